"""Per-task transition datasets for multi-task FQI, generated as the paper's were, and cached.

``load_or_generate(params, spec, d)`` is a variant's training set and ``load_or_generate(params, held_out(spec), d)``
its independent held-out set; policies ``epsilon_greedy`` (the authors' kind of data, default) and ``coin``.

Design notes: docs/tasks.md#datasets-start-grid-policies-held-out-data-cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mtrl_bench.checksums import sha256_arrays
from mtrl_bench.config import param
from mtrl_bench.errors import ConfigError, warn
from mtrl_bench.results import atomic_write
from mtrl_bench.tasks.car_on_hill import behaviour
from mtrl_bench.tasks.car_on_hill import dynamics as coh

DATASET_VERSION = 2
POLICIES = ("coin", "epsilon_greedy")
STREAMS = ("train", "held_out")
FIELDS = ("states", "actions", "rewards", "next_states", "absorbing", "episode")


@dataclass(frozen=True)
class DatasetSpec:
    """How a dataset is generated; every field is part of the cache key (a run with ``seed_per_run``
    generates its draws with it off, so their keys are those of plain specs)."""

    policy: str = param("epsilon_greedy", "behaviour policy: 'epsilon_greedy' (the authors' kind of data: "
                        "epsilon-greedy on a near-optimal greedy policy) or 'coin' (+a with i.i.d. probability p_plus)",
                        choices=POLICIES)
    grid_size: int = param(17, "start states per axis: one episode from each of grid_size^2 states", low=1)
    p_plus: float = param(0.77, "coin: probability of action 1 (+a) at every step", low=0, high=1)
    epsilon: float = param(0.12, "epsilon_greedy: probability of a uniformly random action", low=0, high=1)
    value_grid: int = param(101, "epsilon_greedy: nodes per axis of the value-iteration grid of the greedy "
                            "policy (coarser = more imperfect)", low=2, high=1001)
    value_variant: str = param("1.200_4.375", "epsilon_greedy: the variant whose value grid the greedy look-ahead uses "
                               "(index or name; 'own' = each variant its own values; default the hardest variant)")
    value_noise: float = param(0.015, "epsilon_greedy: std of fixed Gaussian noise added to the grid values "
                               "(return units; 0 = none)", low=0, high=1)
    plus_bias: float = param(0.005, "epsilon_greedy: added to the greedy value of action 1 (+a) "
                             "(return units)", low=-1, high=1)
    horizon: int = param(coh.HORIZON, "steps after which an episode is cut", low=1)
    seed: int = param(0, "dataset seed (per-variant streams are derived from it)", low=0)
    stream: str = param("train", "'train', or 'held_out' for the independent held-out set of the same "
                        "seed (see datasets.held_out)", choices=STREAMS)
    seed_per_run: bool = param(False, "FQI: run seed s trains on its own draw, dataset seed = seed + s, so that "
                               "a CI over runs includes the dataset draw")

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ConfigError(f"dataset policy must be one of {list(POLICIES)}, got {self.policy!r}")
        if self.stream not in STREAMS:
            raise ConfigError(f"dataset stream must be one of {list(STREAMS)}, got {self.stream!r}")
        if self.grid_size < 1:
            raise ConfigError(f"dataset grid_size must be >= 1, got {self.grid_size}")
        if not 0.0 <= self.p_plus <= 1.0:
            raise ConfigError(f"dataset p_plus must be a probability in [0, 1], got {self.p_plus}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ConfigError(f"dataset epsilon must be a probability in [0, 1], got {self.epsilon}")
        if not 2 <= self.value_grid <= 1001:
            raise ConfigError(f"dataset value_grid must be in 2..1001, got {self.value_grid}")
        if self.value_variant != "own":
            # One spelling per variant (index or name), so that one dataset has one cache key.
            object.__setattr__(self, "value_variant", coh.variant(self.value_variant).name)
        if not (np.isfinite(self.value_noise) and self.value_noise >= 0):
            raise ConfigError(f"dataset value_noise must be >= 0, got {self.value_noise}")
        if not np.isfinite(self.plus_bias):
            raise ConfigError(f"dataset plus_bias must be finite, got {self.plus_bias}")
        if self.horizon < 1:
            raise ConfigError(f"dataset horizon must be >= 1, got {self.horizon}")
        if self.seed < 0:
            raise ConfigError(f"dataset seed must be >= 0, got {self.seed}")


def held_out(spec: DatasetSpec) -> DatasetSpec:
    """The spec of the independent held-out set: same policy, parameters and seed, other stream."""
    if spec.stream == "held_out":
        raise ConfigError("this dataset spec is already the held-out stream")
    return dataclasses.replace(spec, stream="held_out")


@dataclass
class Transitions:
    """Arrays of one task's transitions, N rows, in episode order."""

    states: np.ndarray  # (N, 2) float64
    actions: np.ndarray  # (N,) int64
    rewards: np.ndarray  # (N,) float64
    next_states: np.ndarray  # (N, 2) float64
    absorbing: np.ndarray  # (N,) bool
    episode: np.ndarray  # (N,) int64, episode index (generated data: index of the start state in the grid)

    def __len__(self) -> int:
        return len(self.actions)

    def subset(self, index: np.ndarray) -> Transitions:
        return Transitions(*(getattr(self, name)[index] for name in FIELDS))


def _variant_key(params: coh.CarOnHillParams) -> list[int]:
    return [int(round(params.mass * 1e6)), int(round(params.gravity * 1e6)), int(round(params.action * 1e6))]


# Marks the held-out stream in the seed entropy; the training stream keeps the original entropy so
# that coin data stay bit-identical to earlier releases.
_HELD_OUT_TAG = 0x4E1D


def _variant_seed(params: coh.CarOnHillParams, spec: DatasetSpec) -> np.random.SeedSequence:
    # Distinct, reproducible streams per variant (and per stream) from one dataset seed.
    entropy = [spec.seed, *_variant_key(params)]
    if spec.stream == "held_out":
        entropy.append(_HELD_OUT_TAG)
    return np.random.SeedSequence(entropy)


def start_states(grid_size: int) -> np.ndarray:
    """The grid of start states (grid_size^2, 2), position-major, velocity varying fastest."""
    positions = np.linspace(-coh.MAX_POSITION, coh.MAX_POSITION, grid_size)
    velocities = np.linspace(-coh.MAX_VELOCITY, coh.MAX_VELOCITY, grid_size)
    return np.stack(np.meshgrid(positions, velocities, indexing="ij"), axis=-1).reshape(-1, 2)


def greedy_policy(params: coh.CarOnHillParams, spec: DatasetSpec) -> behaviour.GreedyPolicy:
    """The greedy policy that ``spec``'s epsilon-greedy rollout perturbs (the same for both streams)."""
    value_params = params if spec.value_variant == "own" else coh.variant(spec.value_variant)
    # The noise belongs to the value grid: seeded by the variant whose values it perturbs.
    return behaviour.greedy_policy(params, spec.value_grid, value_noise=spec.value_noise, plus_bias=spec.plus_bias,
                                   noise_seed=_variant_key(value_params), value_params=value_params)


def _assemble(chunks: list[tuple]) -> Transitions:
    """Rows grouped by episode, in time order within each."""
    fields = [np.concatenate([c[i] for c in chunks]) for i in range(6)]
    order = np.lexsort((np.concatenate([np.full(len(c[5]), t) for t, c in enumerate(chunks)]), fields[5]))
    return Transitions(*(f[order] for f in fields))


def generate(params: coh.CarOnHillParams, spec: DatasetSpec = DatasetSpec()) -> Transitions:
    """Run one episode from each grid start state under ``spec``'s behaviour policy."""
    rng = np.random.default_rng(_variant_seed(params, spec))
    policy = None if spec.policy == "coin" else greedy_policy(params, spec)
    state = start_states(spec.grid_size)
    n_episodes = len(state)
    running = np.ones(n_episodes, dtype=bool)
    chunks = []
    for _ in range(spec.horizon):
        # Every episode draws at every step, finished ones too, which keeps the streams aligned: one coin
        # (coin policy), or two uniforms (explore?, random action) under epsilon-greedy.
        draws = rng.random(n_episodes) if policy is None else rng.random((2, n_episodes))
        idx = np.nonzero(running)[0]
        if len(idx) == 0:
            break
        if policy is None:
            actions = (draws[idx] < spec.p_plus).astype(np.int64)
            nxt, reward, absorbing = coh.step(state[idx], actions, params.mass, params.gravity, params.action)
        else:
            explore, coin = draws[:, idx]
            step = policy.act(state[idx])
            actions = np.where(explore < spec.epsilon, (coin < 0.5).astype(np.int64), step.greedy)
            rows = np.arange(len(idx))
            nxt, reward, absorbing = (table[rows, actions] for table in
                                      (step.next_states, step.rewards, step.absorbing))
        chunks.append((state[idx].copy(), actions, reward, nxt, absorbing, idx))
        state[idx] = nxt
        running[idx[absorbing]] = False
    return _assemble(chunks)


def cache_meta(params: coh.CarOnHillParams, spec: DatasetSpec) -> dict:
    """The generating parameters a cached file must carry to be reused."""
    return {"version": DATASET_VERSION, "variant": asdict(params), "spec": asdict(spec)}


def cache_path(cache_dir: str | Path, params: coh.CarOnHillParams, spec: DatasetSpec) -> Path:
    """``<cache_dir>/car_on_hill_<variant>_<policy>_seed<seed>[_held_out]_<hash of every parameter>.npz``."""
    digest = hashlib.sha256(json.dumps(cache_meta(params, spec), sort_keys=True).encode()).hexdigest()[:12]
    stream = "_held_out" if spec.stream == "held_out" else ""
    return Path(cache_dir) / f"car_on_hill_{params.name}_{spec.policy}_seed{spec.seed}{stream}_{digest}.npz"


def _read_cache(path: Path, meta: dict) -> Transitions | None:
    """The dataset cached at ``path``, or None when it must be generated: absent, made with other parameters,
    or damaged (unreadable, or its arrays fail the checksum stored with them; a one-line warning)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            if json.loads(str(stored["meta"])) != meta:
                return None
            arrays = {name: stored[name] for name in FIELDS}
            digest = str(stored["sha256"]) if "sha256" in stored.files else None
    except Exception as err:  # a damaged zip raises many kinds (BadZipFile, EOFError, ValueError, KeyError...)
        warn(f"dataset cache {path} is unreadable ({type(err).__name__}): regenerating it")
        return None
    if digest is None:
        warn(f"dataset cache {path} has no checksum (an older version wrote it): regenerating it")
        return None
    if sha256_arrays(arrays) != digest:
        warn(f"dataset cache {path} fails its checksum (altered or corrupt): regenerating it")
        return None
    return Transitions(**arrays)


def load_or_generate(params: coh.CarOnHillParams, spec: DatasetSpec, cache_dir: str | Path | None) -> Transitions:
    """The dataset for ``params``/``spec``, read from ``cache_dir`` when cached with equal parameters and
    intact (its arrays match the SHA-256 stored with them), else generated and cached."""
    if cache_dir is None:
        return generate(params, spec)
    meta = cache_meta(params, spec)
    path = cache_path(cache_dir, params, spec)
    cached = _read_cache(path, meta)
    if cached is not None:
        return cached
    data = generate(params, spec)
    arrays = {name: getattr(data, name) for name in FIELDS}
    # atomic_write: a unique temporary name, renamed into place (parallel jobs may generate the same dataset).
    atomic_write(path, lambda handle: np.savez(handle, meta=json.dumps(meta, sort_keys=True),
                                               sha256=sha256_arrays(arrays), **arrays), binary=True)
    return data
