"""The physics engines behind the continuous tasks: import checks with install hints, and builders of
the bare engine environments (no time limit, the engine's own action units).

* :func:`require_engine`: import an engine's modules or raise a one-line :class:`ConfigError` that says
  how to install it (PyBullet ships wheels only for CPython <= 3.11: on a newer Python the message
  names the MuJoCo pendulum group instead).
* :func:`build_engine_env`: ``("pybullet", "InvertedPendulumBulletEnv")`` (the ``pybullet-envs-gymnasium``
  port of pybullet's environments), ``("mujoco", "InvertedPendulum-v5")`` (gymnasium's MuJoCo
  environments) or ``("dm_control", "cartpole-swingup")`` (:mod:`.dm_control_tasks`).
* :func:`engine_errors` / :class:`MujocoWarnings`: how each engine reports a diverging simulation
  (an exception, or MuJoCo's bad-state warning counters, which its auto-reset would otherwise hide).
"""

from __future__ import annotations

import importlib
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import gymnasium as gym
import numpy as np

from mtrl_bench.errors import ConfigError
from mtrl_bench.tasks.dm_control_tasks import DMControlEnv, headless_rendering

ENGINE_MODULES: dict[str, tuple[str, ...]] = {
    "pybullet": ("pybullet", "pybullet_envs_gymnasium"),
    "mujoco": ("mujoco", "gymnasium.envs.mujoco"),
    "dm_control": ("mujoco", "dm_control.suite"),
}
PYBULLET_MAX_PYTHON = (3, 11)
MUJOCO_PENDULUM_GROUP = "pendulum_mujoco"


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null for the block: PyBullet's C code prints a line there for
    every physics client it connects (its one build-time banner per process may still get through)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _hint(engine: str, what: str, module: str, exc: BaseException) -> str:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    if engine == "pybullet":
        if sys.version_info[:2] > PYBULLET_MAX_PYTHON:
            return (f"{what} needs PyBullet, which has wheels only for CPython <= 3.11 (this is "
                    f"{sys.version_info.major}.{sys.version_info.minor}): use the group "
                    f"{MUJOCO_PENDULUM_GROUP!r} instead")
        return (f"{what} needs PyBullet ({module} does not import: {reason}): `make setup` (pip install -e .) "
                f"installs pybullet and pybullet-envs-gymnasium, or use the group {MUJOCO_PENDULUM_GROUP!r}")
    return (f"{what} needs {engine} ({module} does not import: {reason}): `make setup` (pip install -e .) installs "
            "mujoco 3.17 and dm-control 1.0.50; an environment that had mujoco 4 must be rebuilt, not patched")


def require_engine(engine: str, what: str) -> None:
    """Import ``engine``'s modules; a missing or broken one is a :class:`ConfigError` naming ``what``
    (e.g. ``"task 'walker_walk'"``) and how to install it."""
    if engine not in ENGINE_MODULES:
        raise ConfigError(f"unknown engine {engine!r}; known engines: {', '.join(ENGINE_MODULES)}")
    if engine == "dm_control":
        headless_rendering()
    for module in ENGINE_MODULES[engine]:
        try:
            with quiet_stdout():
                importlib.import_module(module)
        except (ImportError, OSError) as exc:
            raise ConfigError(_hint(engine, what, module, exc)) from None


def engine_errors(engine: str) -> tuple[type[BaseException], ...]:
    """Exceptions by which ``engine`` reports a diverging simulation (caught, the episode then ends)."""
    if engine == "dm_control":
        from dm_control.rl.control import PhysicsError

        return (PhysicsError,)
    if engine == "pybullet":
        return (AssertionError,)  # pybullet-envs-gymnasium asserts that the cart position is finite
    return ()


class MujocoWarnings:
    """Called after a step of a gymnasium MuJoCo environment: the name of a bad-state warning (NaN/inf
    or huge position, velocity or acceleration) that MuJoCo raised during that step, else None.

    MuJoCo resets such a simulation by itself, so the observation stays finite and only these counters
    tell that the episode was lost.
    """

    def __init__(self) -> None:
        import mujoco

        self.kinds = {int(getattr(mujoco.mjtWarning, name)): name
                      for name in ("mjWARN_BADQPOS", "mjWARN_BADQVEL", "mjWARN_BADQACC")}
        self._seen: dict[int, int] = {}

    def __call__(self, env: gym.Env) -> str | None:
        data = env.unwrapped.data
        counts = {kind: int(data.warning[kind].number) for kind in self.kinds}
        new = [self.kinds[k] for k, n in counts.items() if n > self._seen.get(k, 0)]
        self._seen = counts
        return f"MuJoCo warning {new[0]}" if new else None

    def reset(self, env: gym.Env) -> None:
        """Take the counters as they are after a reset as the baseline."""
        self._seen = {kind: int(env.unwrapped.data.warning[kind].number) for kind in self.kinds}


def _pybullet_env(ident: str) -> gym.Env:
    with quiet_stdout():
        from pybullet_envs_gymnasium import gym_pendulum_envs

        env = getattr(gym_pendulum_envs, ident)()
        env.reset(seed=0)  # connects the physics client now, while its banner goes to /dev/null
    return env


def _gymnasium_mujoco_env(ident: str) -> gym.Env:
    from gymnasium.envs.registration import load_env_creator

    spec = gym.spec(ident)
    return load_env_creator(spec.entry_point)(**spec.kwargs)


def build_engine_env(engine: str, ident: str, obs_keys: tuple[str, ...] = ()) -> gym.Env:
    """The bare environment ``ident`` of ``engine`` (see the module doc); ``obs_keys`` is the expected
    dm_control observation order, flattened in that order."""
    if engine == "pybullet":
        return _pybullet_env(ident)
    if engine == "mujoco":
        return _gymnasium_mujoco_env(ident)
    if engine == "dm_control":
        domain, task = ident.split("-")
        return DMControlEnv(domain, task, obs_keys)
    raise ConfigError(f"unknown engine {engine!r}; known engines: {', '.join(ENGINE_MODULES)}")


def is_finite(*values: np.ndarray | float) -> bool:
    """True when every number in ``values`` (arrays, sequences or scalars) is finite."""
    for value in values:
        if isinstance(value, float | int):
            if not math.isfinite(value):
                return False
        elif not np.isfinite(value).all():
            return False
    return True
