"""Per-task transition datasets for multi-task FQI, generated as the paper's were, and cached.

For each variant: one episode from every state of a ``grid_size`` x ``grid_size`` grid of start
states (position linspace(-1, 1), velocity linspace(-3, 3)), run until it ends or ``horizon``
steps; the behaviour policy picks action 1 (+a) with probability ``p_plus`` (about 0.77 in the
authors' data) and action 0 otherwise. All episodes of a variant step together as one batch.
Datasets are generated locally (never downloaded) and cached as ``.npz`` files that carry their
generating parameters; a cached file whose parameters differ is regenerated, never silently reused.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mtrl_bench.errors import ConfigError
from mtrl_bench.tasks.car_on_hill import dynamics as coh

DATASET_VERSION = 1


@dataclass(frozen=True)
class DatasetSpec:
    """How a dataset is generated; the cache key."""

    grid_size: int = 17
    p_plus: float = 0.77
    horizon: int = coh.HORIZON
    seed: int = 0

    def __post_init__(self) -> None:
        if self.grid_size < 1:
            raise ConfigError(f"dataset grid_size must be >= 1, got {self.grid_size}")
        if not 0.0 <= self.p_plus <= 1.0:
            raise ConfigError(f"dataset p_plus must be a probability in [0, 1], got {self.p_plus}")
        if self.horizon < 1:
            raise ConfigError(f"dataset horizon must be >= 1, got {self.horizon}")


@dataclass
class Transitions:
    """Arrays of one task's transitions, N rows, in episode order."""

    states: np.ndarray  # (N, 2) float64
    actions: np.ndarray  # (N,) int64
    rewards: np.ndarray  # (N,) float64
    next_states: np.ndarray  # (N, 2) float64
    absorbing: np.ndarray  # (N,) bool
    episode: np.ndarray  # (N,) int64, index of the start state in the grid

    def __len__(self) -> int:
        return len(self.actions)

    def subset(self, index: np.ndarray) -> Transitions:
        return Transitions(*(getattr(self, name)[index] for name in
                             ("states", "actions", "rewards", "next_states", "absorbing", "episode")))


def _variant_seed(params: coh.CarOnHillParams, spec: DatasetSpec) -> np.random.SeedSequence:
    # Distinct, reproducible streams per variant from one dataset seed.
    key = [int(round(params.mass * 1e6)), int(round(params.gravity * 1e6)), int(round(params.action * 1e6))]
    return np.random.SeedSequence([spec.seed, *key])


def generate(params: coh.CarOnHillParams, spec: DatasetSpec = DatasetSpec()) -> Transitions:
    """Run one episode from each grid start state under the biased random behaviour policy."""
    rng = np.random.default_rng(_variant_seed(params, spec))
    positions = np.linspace(-coh.MAX_POSITION, coh.MAX_POSITION, spec.grid_size)
    velocities = np.linspace(-coh.MAX_VELOCITY, coh.MAX_VELOCITY, spec.grid_size)
    state = np.stack(np.meshgrid(positions, velocities, indexing="ij"), axis=-1).reshape(-1, 2)
    n_episodes = len(state)
    running = np.ones(n_episodes, dtype=bool)
    chunks = []
    for _ in range(spec.horizon):
        # One draw per episode per step (also for finished ones) keeps the streams aligned.
        actions = (rng.random(n_episodes) < spec.p_plus).astype(np.int64)
        idx = np.nonzero(running)[0]
        if len(idx) == 0:
            break
        nxt, reward, absorbing = coh.step(state[idx], actions[idx], params.mass, params.gravity, params.action)
        chunks.append((state[idx].copy(), actions[idx], reward, nxt, absorbing, idx))
        state[idx] = nxt
        running[idx[absorbing]] = False
    fields = [np.concatenate([c[i] for c in chunks]) for i in range(6)]
    order = np.lexsort((np.concatenate([np.full(len(c[5]), t) for t, c in enumerate(chunks)]), fields[5]))
    return Transitions(*(f[order] for f in fields))


def load_or_generate(params: coh.CarOnHillParams, spec: DatasetSpec, cache_dir: str | Path | None) -> Transitions:
    """The dataset for ``params``/``spec``, read from ``cache_dir`` when cached with equal parameters."""
    if cache_dir is None:
        return generate(params, spec)
    cache_dir = Path(cache_dir)
    meta = {"version": DATASET_VERSION, "variant": asdict(params), "spec": asdict(spec)}
    path = cache_dir / f"car_on_hill_{params.name}_grid{spec.grid_size}_p{spec.p_plus:g}_seed{spec.seed}.npz"
    if path.is_file():
        with np.load(path) as stored:
            if json.loads(str(stored["meta"])) == meta:
                return Transitions(*(stored[n] for n in
                                     ("states", "actions", "rewards", "next_states", "absorbing", "episode")))
    data = generate(params, spec)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # A unique temporary name: parallel jobs may generate the same dataset at once; each renames a
    # complete file into place.
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=cache_dir)
    os.close(handle)
    tmp = Path(tmp_name)
    np.savez(tmp, meta=json.dumps(meta, sort_keys=True), **{k: getattr(data, k) for k in
             ("states", "actions", "rewards", "next_states", "absorbing", "episode")})
    tmp.replace(path)
    return data
