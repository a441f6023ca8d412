"""Read the authors' published Car-On-Hill transition files into :class:`.datasets.Transitions`.

One pickled list of ``(state, action, reward, next_state, absorbing, last)`` per variant, ``<variant name>.pkl``
or ``dataset_<variant name>.pkl`` (:func:`variant_path`, :func:`load_variant`); a restricted unpickler refuses
every global but containers, numbers and numpy arrays (ConfigError). Unpickling can still run numpy's code:
only read files you trust.

Design notes: docs/tasks.md#the-authors-files-format-layout-checks-security.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from mtrl_bench.errors import ConfigError
from mtrl_bench.tasks.car_on_hill import dynamics as coh
from mtrl_bench.tasks.car_on_hill.datasets import Transitions

SUFFIX = ".pkl"
AUTHORS_PREFIX = "dataset_"  # the authors' own file names: dataset_1.000_4.000.pkl
TUPLE_FIELDS = ("state", "action", "reward", "next_state", "absorbing", "last")


def _numpy_globals() -> dict[tuple[str, str], object]:
    """The numpy globals an array pickle may name, under numpy 1.x and 2.x module paths."""
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], object] = {}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = multiarray._reconstruct
        allowed[(module, "scalar")] = multiarray.scalar
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    allowed[("numpy.core.numeric", "_frombuffer")] = _frombuffer
    allowed[("numpy._core.numeric", "_frombuffer")] = _frombuffer
    return allowed


def _frombuffer(buffer, dtype, shape, order):
    """numpy's pickle helper for protocol 5 arrays, re-implemented without its other globals."""
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order)


class _Refused(pickle.UnpicklingError):
    """A global the restricted unpickler does not load."""


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as protocols 0-2 use it to store bytes (latin-1 text only)."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise _Refused(f"refers to _codecs.encode with encoding {encoding!r}, which this reader "
                                     "does not load")
    return text.encode("latin-1")


_BUILTINS = {"tuple": tuple, "list": list, "float": float, "int": int, "bool": bool, "complex": complex,
             "bytes": bytes, "bytearray": bytearray, "str": str}


class _RestrictedUnpickler(pickle.Unpickler):
    """Loads builtins containers/numbers and numpy arrays only; refuses every other global."""

    _numpy = _numpy_globals()

    def find_class(self, module: str, name: str):
        if module in ("builtins", "__builtin__") and name in _BUILTINS:
            return _BUILTINS[name]
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        if (module, name) in self._numpy:
            return self._numpy[(module, name)]
        raise _Refused(f"refers to {module}.{name}, which this reader does not load "
                                     "(only Python numbers/containers and numpy arrays)")


def variant_path(directory: str | Path, params: coh.CarOnHillParams) -> Path:
    """``<directory>/<variant name>.pkl`` (e.g. ``1.000_4.000.pkl`` for variant 0), or the authors' own name
    ``dataset_<variant name>.pkl`` when only that one exists."""
    ours = Path(directory) / f"{params.name}{SUFFIX}"
    theirs = Path(directory) / f"{AUTHORS_PREFIX}{params.name}{SUFFIX}"
    return theirs if theirs.exists() and not ours.exists() else ours


def _missing_variant(directory: Path, params: coh.CarOnHillParams) -> ConfigError:
    held = sorted(p.name for p in directory.glob(f"*{SUFFIX}"))
    shown = ", ".join(held[:4]) + (f" ... ({len(held)} in all)" if len(held) > 4 else "") or f"no {SUFFIX} file"
    ours, theirs = directory / f"{params.name}{SUFFIX}", f"{AUTHORS_PREFIX}{params.name}{SUFFIX}"
    return ConfigError(f"authors' dataset file {ours} does not exist, nor {theirs} (the authors' name): name a "
                       f"variant's file \"%.3f_%.3f\" % (mass, force), with or without the prefix {AUTHORS_PREFIX}; "
                       f"the folder holds {shown}")


def load_variant(directory: str | Path, params: coh.CarOnHillParams) -> Transitions:
    """The authors' transitions of ``params`` from ``directory`` (see the module docstring)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"authors' dataset directory {directory} does not exist")
    ours, theirs = directory / f"{params.name}{SUFFIX}", directory / f"{AUTHORS_PREFIX}{params.name}{SUFFIX}"
    if ours.exists() and theirs.exists():
        raise ConfigError(f"both {ours.name} and {theirs.name} are in {directory}: keep one file per variant")
    if not ours.exists() and not theirs.exists():
        raise _missing_variant(directory, params)
    return read_transitions(variant_path(directory, params))


def _load(path: Path):
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read authors' dataset file {path}: {err.strerror}") from err
    try:
        return _RestrictedUnpickler(io.BytesIO(raw)).load()
    except _Refused as err:
        raise ConfigError(f"{path} {err}") from err
    except Exception as err:  # truncated or garbled bytes raise many types
        raise ConfigError(f"{path} is not a readable pickle ({type(err).__name__}: {err})") from err


def _real_array(value, path: Path, i: int, field: str) -> np.ndarray:
    """``value`` as a flat float64 array; a complex or non-numeric value is a ConfigError."""
    try:
        array = np.asarray(value)
        if array.dtype.kind == "c":
            raise ConfigError(f"{path}: transition {i}: {field} is a complex number ({value!r:.60}): not a "
                              "Car-On-Hill transition file")
        return array.astype(np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"{path}: transition {i}: {field} is not numeric ({value!r:.60})") from err


def _vector(value, path: Path, i: int, field: str) -> np.ndarray:
    array = _real_array(value, path, i, field)
    if array.shape != (2,):
        raise ConfigError(f"{path}: transition {i}: {field} must hold 2 numbers (position, velocity), "
                          f"got {array.size}")
    return array


def _scalar(value, path: Path, i: int, field: str) -> float:
    array = _real_array(value, path, i, field)
    if array.size != 1:
        raise ConfigError(f"{path}: transition {i}: {field} must be one number, got {array.size}")
    return float(array[0])


def read_transitions(path: str | Path) -> Transitions:
    """Read one authors' file (a pickled list of 6-tuples, see the module docstring), checked.

    Returns Transitions with states/next_states (N, 2) float64, actions (N,) int64, rewards (N,)
    float64, absorbing (N,) bool and episode (N,) int64 counted from ``last``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"authors' dataset file {path} does not exist")
    items = _load(path)
    if not isinstance(items, list):
        raise ConfigError(f"{path} must hold a list of transitions, got {type(items).__name__}")
    if not items:
        raise ConfigError(f"{path} holds an empty list of transitions")
    n = len(items)
    states, next_states = np.empty((n, 2)), np.empty((n, 2))
    actions, rewards, absorbing, last = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    for i, item in enumerate(items):
        if not isinstance(item, (tuple, list)) or len(item) != len(TUPLE_FIELDS):
            got = f"length {len(item)}" if isinstance(item, (tuple, list)) else type(item).__name__
            raise ConfigError(f"{path}: transition {i} must be a tuple {TUPLE_FIELDS}, got {got}")
        states[i] = _vector(item[0], path, i, "state")
        actions[i] = _scalar(item[1], path, i, "action")
        rewards[i] = _scalar(item[2], path, i, "reward")
        next_states[i] = _vector(item[3], path, i, "next_state")
        absorbing[i] = _scalar(item[4], path, i, "absorbing")
        last[i] = _scalar(item[5], path, i, "last")
    for name, values in (("state", states), ("next_state", next_states), ("reward", rewards)):
        bad = np.nonzero(~np.isfinite(values).reshape(n, -1).all(axis=1))[0]
        if len(bad):
            raise ConfigError(f"{path}: transition {bad[0]}: {name} is not finite")
    for name, values, allowed in (("action", actions, "0 or 1"), ("absorbing", absorbing, "a boolean"),
                                  ("last", last, "a boolean")):
        bad = np.nonzero((values != 0) & (values != 1))[0]
        if len(bad):
            raise ConfigError(f"{path}: transition {bad[0]}: {name} must be {allowed}, got {values[bad[0]]:g}")
    absorbing_b, last_b = absorbing.astype(bool), last.astype(bool)
    _check_physics(path, states, rewards, next_states, absorbing_b)
    bad = np.nonzero(absorbing_b & ~last_b)[0]
    if len(bad):
        raise ConfigError(f"{path}: transition {bad[0]} is absorbing but not marked last")
    if not last_b[-1]:
        raise ConfigError(f"{path}: the final transition is not marked last (truncated file?)")
    episode = np.concatenate([[0], np.cumsum(last_b[:-1])]).astype(np.int64)
    return Transitions(states, actions.astype(np.int64), rewards, next_states, absorbing_b, episode)


def _check_physics(path: Path, states: np.ndarray, rewards: np.ndarray, next_states: np.ndarray,
                   absorbing: np.ndarray) -> None:
    """Values Car-On-Hill cannot produce: a state outside [-1, 1] x [-3, 3] (the episode would have ended), a
    reward outside {-1, 0, 1}, a reward or absorbing flag other than the next state's, or a next state
    further than one step can go (|position| > 2, |velocity| > 12)."""
    outside = (np.abs(states[:, 0]) > coh.MAX_POSITION) | (np.abs(states[:, 1]) > coh.MAX_VELOCITY)
    far = (np.abs(next_states[:, 0]) > 2 * coh.MAX_POSITION) | (np.abs(next_states[:, 1]) > 4 * coh.MAX_VELOCITY)
    reward, ends = coh.reward_and_absorbing(next_states[:, 0], next_states[:, 1])
    checks = (
        (outside, lambda i: f"state ({states[i, 0]:g}, {states[i, 1]:g}) is outside the hill's [-1, 1] x [-3, 3]"),
        (~np.isin(rewards, (-1.0, 0.0, 1.0)), lambda i: f"reward {rewards[i]:g} is not -1, 0 or 1"),
        (far, lambda i: f"next_state ({next_states[i, 0]:g}, {next_states[i, 1]:g}) is further than one step can "
                        "reach"),
        ((reward != rewards) | (ends != absorbing),
         lambda i: f"reward {rewards[i]:g} / absorbing {bool(absorbing[i])} disagree with next_state "
                   f"({next_states[i, 0]:g}, {next_states[i, 1]:g}), which gives {reward[i]:g} / {bool(ends[i])}"),
    )
    for bad, message in checks:
        if bad.any():
            i = int(np.argmax(bad))
            raise ConfigError(f"{path}: transition {i}: {message(i)}: not a Car-On-Hill transition file (damaged?)")


def to_tuples(data: Transitions) -> list[tuple]:
    """``data`` in the authors' format (the inverse of :func:`read_transitions`): a list of
    ``(state (2,) array, action int, reward float, next_state (2,) array, absorbing bool, last bool)``."""
    last = np.append(data.episode[1:] != data.episode[:-1], True)
    return [(data.states[i].copy(), int(data.actions[i]), float(data.rewards[i]), data.next_states[i].copy(),
             bool(data.absorbing[i]), bool(last[i])) for i in range(len(data))]
