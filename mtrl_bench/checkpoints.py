"""Checkpoints of the shared layers of a multi-task learner: one small file per seed, with metadata.

File ``<directory>/seed<s>.pt`` (:func:`checkpoint_path`), tensors without the member dimension; a missing,
altered or mismatched file is a one-line :class:`ConfigError`. Epoch rules (``save_shared``): ``final``,
``best-sum``, ``best``.

Design notes: docs/learners.md#checkpoints-of-the-shared-layers.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtrl_bench import __version__
from mtrl_bench.errors import ConfigError
from mtrl_bench.results import atomic_write

FORMAT = "mtrl-bench-shared-layers"
FORMAT_VERSION = 1
CRITERIA = ("none", "final", "best", "best-sum")
"""``save_shared`` values: none (no checkpoint), final, best (normalised, recommended), best-sum (authors')."""


def checkpoint_path(directory: str | os.PathLike, seed: int) -> Path:
    """The checkpoint file of ``seed`` in ``directory``."""
    return Path(directory) / f"seed{int(seed)}.pt"


def architecture(net: torch.nn.Module) -> dict[str, Any]:
    """What a checkpoint of ``net``'s shared layers needs from the network it is loaded into."""
    spec = net.spec
    if hasattr(spec, "shared_widths"):  # SharedMultiTaskNet
        return {"input_width": int(spec.input_width), "shared_widths": [int(w) for w in spec.shared_widths],
                "shared_activations": list(spec.shared_activations)}
    activation = "sigmoid" if getattr(net, "key", "") == "critic" else "relu"  # DDPG critic: sigmoid(h + P a)
    return {"input_width": int(spec.input_width), "shared_widths": [int(spec.shared_width)],
            "shared_activations": [activation]}


def _describe(arch: Mapping[str, Any]) -> str:
    widths = "x".join(str(w) for w in arch["shared_widths"])
    activations = "/".join(arch["shared_activations"])
    return f"input width {arch['input_width']}, shared widths {widths}, activations {activations}"


def member_tensors(nets: Mapping[str, torch.nn.Module], member: int) -> dict[str, torch.Tensor]:
    """Copies (CPU, float32) of member ``member``'s shared-layer parameters: ``{"<net>.<param>": tensor}``."""
    out = {}
    for kind, net in nets.items():
        for name in net.shared_parameter_names():
            out[f"{kind}.{name}"] = net.params[name][member].detach().to("cpu", torch.float32).clone()
    return out


def _digest(tensors: Mapping[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        value = tensors[name].contiguous()
        h.update(f"{name}:{tuple(value.shape)}:{value.dtype};".encode())
        h.update(value.numpy().tobytes())
    return h.hexdigest()


@dataclass
class SharedLayers:
    """One seed's shared layers: tensors by ``<net>.<param>`` name, and the metadata they were saved with."""

    tensors: dict[str, torch.Tensor]
    metadata: dict[str, Any]
    path: Path | None = None

    @property
    def seed(self) -> int:
        return int(self.metadata["seed"])


def save_checkpoint(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, Any]) -> Path:
    """Write one checkpoint atomically (:func:`mtrl_bench.results.atomic_write`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in tensors.items()}
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "metadata": dict(metadata),
               "tensors": tensors, "sha256": _digest(tensors)}
    return atomic_write(path, lambda handle: torch.save(payload, handle), binary=True)


def load_checkpoint(path: str | os.PathLike) -> SharedLayers:
    """Read and check one checkpoint; anything wrong is a one-line :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"shared-layer checkpoint {path} does not exist: run the source with save_shared "
                          f"and this checkpoint folder first")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds on a truncated or foreign file
        raise ConfigError(f"shared-layer checkpoint {path} is unreadable (corrupt or not a checkpoint: "
                          f"{type(err).__name__}); rerun the source run that writes it") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ConfigError(f"{path} is not an mtrl-bench shared-layer checkpoint")
    if payload.get("format_version") != FORMAT_VERSION:
        raise ConfigError(f"{path} has checkpoint format version {payload.get('format_version')}; this version "
                          f"reads {FORMAT_VERSION}")
    tensors, metadata = payload.get("tensors"), payload.get("metadata")
    if not isinstance(tensors, dict) or not isinstance(metadata, dict) or not tensors:
        raise ConfigError(f"shared-layer checkpoint {path} lacks its tensors or metadata")
    if _digest(tensors) != payload.get("sha256"):
        raise ConfigError(f"shared-layer checkpoint {path} fails its checksum (altered or corrupt); rerun the "
                          f"source run that writes it")
    return SharedLayers(tensors=tensors, metadata=metadata, path=path)


def load_checkpoints(directory: str | os.PathLike, seeds: Sequence[int], algorithm: str | None = None
                     ) -> list[SharedLayers]:
    """Checkpoint of every seed in ``directory`` (seed s -> ``seed<s>.pt``), checked: the file's own seed
    matches, and its algorithm is ``algorithm`` (e.g. ``mdqn``) when given."""
    out = []
    for seed in seeds:
        ckpt = load_checkpoint(checkpoint_path(directory, seed))
        if ckpt.seed != int(seed):
            raise ConfigError(f"checkpoint {ckpt.path} holds seed {ckpt.seed}, not seed {seed}: each seed loads "
                              f"its own source seed")
        if algorithm is not None and ckpt.metadata.get("algorithm") != algorithm:
            raise ConfigError(f"checkpoint {ckpt.path} comes from {ckpt.metadata.get('algorithm')}, not "
                              f"{algorithm}: give a checkpoint folder of a {algorithm} source run")
        out.append(ckpt)
    return out


def check_compatible(ckpt: SharedLayers, nets: Mapping[str, torch.nn.Module]) -> None:
    """ConfigError (one line, both architectures named) unless ``ckpt`` fits every network of ``nets``."""
    saved = ckpt.metadata.get("architecture", {})
    for kind, net in nets.items():
        mine = architecture(net)
        if kind not in saved:
            raise ConfigError(f"checkpoint {ckpt.path} has no '{kind}' shared layers (it has {sorted(saved)})")
        if dict(saved[kind]) != mine:
            raise ConfigError(f"checkpoint {ckpt.path} has {kind} shared layers of {_describe(saved[kind])} but "
                              f"the learner has {_describe(mine)}: give the target the source's widths")
        for name in net.shared_parameter_names():
            key = f"{kind}.{name}"
            if key not in ckpt.tensors or tuple(ckpt.tensors[key].shape) != tuple(net.params[name].shape[1:]):
                raise ConfigError(f"checkpoint {ckpt.path}: tensor {key} is missing or has the wrong shape")


@torch.no_grad()
def load_into(checkpoints: Sequence[SharedLayers], nets: Mapping[str, Sequence[torch.nn.Module]]) -> None:
    """Copy checkpoint s's shared layers into member s of every network listed per kind.

    ``nets``: e.g. ``{"q": [online, target]}`` or ``{"actor": [actor], "critic": [critic]}``; every
    checkpoint is checked against every network first (nothing is copied when one does not fit).
    """
    for ckpt in checkpoints:
        for kind, group in nets.items():
            for net in group:
                if net.n_members != len(checkpoints):
                    raise ValueError(f"{len(checkpoints)} checkpoints for {net.n_members} members")
                check_compatible(ckpt, {kind: net})
    for s, ckpt in enumerate(checkpoints):
        for kind, group in nets.items():
            for net in group:
                for name in net.shared_parameter_names():
                    net.params[name][s].copy_(ckpt.tensors[f"{kind}.{name}"])


# -- which epoch ----------------------------------------------------------------------------------

def criterion_values(scores: np.ndarray, criterion: str, reference: np.ndarray | None = None) -> np.ndarray:
    """The criterion of each epoch: scores (E, T) -> (E,). ``reference`` (E', T): the epochs whose
    minimum and maximum normalise ``best`` (default ``scores``)."""
    scores = np.asarray(scores, dtype=float)
    if criterion == "best-sum":
        return scores.sum(1)
    if criterion == "best":
        reference = scores if reference is None else np.asarray(reference, dtype=float)
        low, high = reference.min(0), reference.max(0)
        span = np.where(high > low, high - low, 1.0)
        return np.where(high > low, (scores - low) / span, 0.0).mean(1)
    raise ValueError(f"no score criterion {criterion!r}")


def select_epoch(epochs: Sequence[int], scores: np.ndarray, criterion: str,
                 reference: np.ndarray | None = None) -> int:
    """Index into ``epochs`` of the chosen epoch: the last for ``final``, else the criterion's argmax
    (the earliest of ties)."""
    if criterion == "final":
        return int(np.argmax(np.asarray(epochs)))
    values = criterion_values(scores, criterion, reference)
    best = values.max()
    order = np.argsort(np.asarray(epochs), kind="stable")
    return int(next(i for i in order if values[i] == best))


@dataclass
class SnapshotKeeper:
    """One seed's candidate epochs: every epoch's scores, and the parameters of those a criterion may pick.

    ``mode`` ``final`` keeps the latest snapshot only; ``best``/``best-sum`` keep the epochs no other epoch
    matches or beats on every task (earlier epochs win ties).
    """

    mode: str
    epochs: list[int] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)
    kept: dict[int, tuple[np.ndarray, dict[str, torch.Tensor]]] = field(default_factory=dict)
    fallback: tuple[int, np.ndarray, dict[str, torch.Tensor]] | None = None  # the first non-candidate epoch

    def observe(self, epoch: int, scores: np.ndarray, tensors: Any, candidate: bool = True) -> None:
        """Record ``scores`` (T,) of ``epoch``; ``tensors``: a dict, or a callable giving it (called only
        when the snapshot is kept)."""
        scores = np.asarray(scores, dtype=float)
        self.epochs.append(int(epoch))
        self.scores.append(scores)
        if not candidate:
            if self.fallback is None:
                self.fallback = (int(epoch), scores, tensors() if callable(tensors) else tensors)
            return
        if self.mode == "final":
            self.kept = {int(epoch): (scores, tensors() if callable(tensors) else tensors)}
            return
        if any(np.all(old >= scores) for old, _ in self.kept.values()):
            return  # an earlier epoch is at least as good on every task
        self.kept = {e: kept for e, kept in self.kept.items()
                     if not (np.all(scores >= kept[0]) and np.any(scores > kept[0]))}
        self.kept[int(epoch)] = (scores, tensors() if callable(tensors) else tensors)

    def choose(self) -> tuple[int, np.ndarray, dict[str, torch.Tensor]]:
        """(epoch, scores (T,), tensors) of the chosen snapshot (the non-candidate epoch when no other)."""
        if not self.kept:
            if self.fallback is None:
                raise ValueError("no snapshot was kept")
            return self.fallback
        epochs = sorted(self.kept)
        index = select_epoch(epochs, np.stack([self.kept[e][0] for e in epochs]), self.mode,
                             reference=np.stack(self.scores))
        epoch = epochs[index]
        return epoch, self.kept[epoch][0], self.kept[epoch][1]


class SharedLayerSaver:
    """The runners' hook: ``observe`` after every evaluation, ``write`` at the end (one file per seed).

    ``nets``: the learner's online networks by kind (``{"q": net}``, ``{"actor": a, "critic": c}``);
    ``directory`` is checked for writing now, before any training.
    """

    def __init__(self, mode: str, directory: str | os.PathLike | None, algorithm: str, source_tasks: Sequence[str],
                 seeds: Sequence[int], nets: Mapping[str, torch.nn.Module], epochs: int,
                 score_metric: str = "return_discounted"):
        if mode not in CRITERIA or mode == "none":
            raise ConfigError(f"save_shared must be one of {list(CRITERIA[1:])} to save, got {mode!r}")
        if not directory:
            raise ConfigError("save_shared needs checkpoint_dir: the folder of the per-seed checkpoints")
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(f"cannot create checkpoint_dir {self.directory}: {err.strerror}") from err
        if not os.access(self.directory, os.W_OK):
            raise ConfigError(f"checkpoint_dir {self.directory} is not writable: choose another folder")
        self.mode, self.algorithm, self.tasks = mode, algorithm, [str(t) for t in source_tasks]
        self.seeds, self.nets, self.epochs, self.metric = [int(s) for s in seeds], dict(nets), int(epochs), score_metric
        self.keepers = [SnapshotKeeper(mode) for _ in self.seeds]

    def observe(self, epoch: int, scores: np.ndarray, active: np.ndarray) -> None:
        """After evaluating ``epoch``: ``scores`` (S, T) of the score metric, ``active`` (S,) seeds still learning."""
        candidate = epoch >= 1 or self.epochs == 0
        for s, keeper in enumerate(self.keepers):
            if active[s]:
                keeper.observe(epoch, scores[s], lambda s=s: member_tensors(self.nets, s), candidate)

    def write(self, extra: Mapping[str, Any] | None = None) -> list[Path]:
        """One checkpoint per seed that has a snapshot; returns their paths."""
        from mtrl_bench.results import git_commit

        commit, arch = git_commit(), {kind: architecture(net) for kind, net in self.nets.items()}
        paths = []
        for seed, keeper in zip(self.seeds, self.keepers):
            if not keeper.kept and keeper.fallback is None:
                continue
            epoch, scores, tensors = keeper.choose()
            metadata = {"algorithm": self.algorithm, "source_tasks": self.tasks, "seed": seed, "epoch": epoch,
                        "criterion": self.mode, "score_metric": self.metric,
                        "score": {t: float(v) for t, v in zip(self.tasks, scores)},
                        "epochs_observed": keeper.epochs[-1], "architecture": arch, "package": "mtrl-bench",
                        "version": __version__, "git_commit": commit,
                        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **dict(extra or {})}
            paths.append(save_checkpoint(checkpoint_path(self.directory, seed), tensors, metadata))
        return paths
