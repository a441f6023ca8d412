"""Tables of the transfer experiment: each unfreeze setting against no transfer, and ours vs the published.

A :class:`analysis.multitask_tables.Study` (:class:`TransferStudy`) whose algorithm axis is the unfreeze setting
(column ``setting``) and whose baseline is no transfer.

Design notes: docs/analysis.md#transfer-tables-inputs-and-outputs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from analysis import ddpg_tables, dqn_tables, reference
from analysis import multitask_tables as mt
from analysis.cli import run

LEARNERS = ("dqn", "ddpg")
NO_TRANSFER = "no_transfer"
PUBLISHED_RUNS = {"dqn": 100, "ddpg": 40}


def setting_label(setting: str) -> str:
    """``transfer_unfreeze10`` -> "unfrozen at epoch 10"; ``transfer_frozen_online`` -> "frozen (online only)"."""
    if setting == NO_TRANSFER:
        return "no transfer"
    online = setting.endswith("_online")
    base = setting.removesuffix("_online")
    match = re.fullmatch(r"transfer_unfreeze(\d+)", base)
    text = "frozen throughout" if base == "transfer_frozen" else (
        f"unfrozen at epoch {match.group(1)}" if match else setting)
    return text + (" (online only)" if online else "")


def _order_key(setting: str) -> tuple:
    if setting == NO_TRANSFER:
        return (0, 0, setting)
    base = setting.removesuffix("_online")
    match = re.fullmatch(r"transfer_unfreeze(\d+)", base)
    return (1, int(match.group(1)), setting) if match else (2, 0, setting)


def setting_order(settings: Iterable[str]) -> list[str]:
    """No transfer first, then the unfreeze epochs ascending, frozen throughout last."""
    return sorted(set(settings), key=_order_key)


def their_setting(setting: str, their_settings: Sequence[str]) -> str | None:
    """The reference's setting matching ours: the same name, else (the authors' runs loaded the online
    network only, and their "never" is unfrozen after the last epoch) the one it stands for."""
    if setting in their_settings:
        return setting
    base = setting.removesuffix("_online")
    if base == "transfer_frozen":
        numbers = [int(m.group(1)) for s in their_settings if (m := re.fullmatch(r"transfer_unfreeze(\d+)", s))]
        return f"transfer_unfreeze{max(numbers)}" if numbers else None
    return base if base in their_settings else None


@dataclass(frozen=True)
class TransferStudy(mt.Study):
    """The transfer of ``learner``'s shared layers: settings against no transfer on each target task."""

    learner: str = "dqn"

    def label(self, algorithm: str) -> str:
        return setting_label(algorithm)

    def algorithms_in_order(self, present: Iterable[str]) -> list[str]:
        return setting_order(present)

    def _with_baseline(self, frame: pd.DataFrame, moved_experiment: str) -> pd.DataFrame:
        """The transfer rows and the learner's single-task rows of their target tasks (as ``no_transfer``;
        idempotent: rows already selected stay)."""
        moved = frame.loc[frame["experiment"] == moved_experiment]
        targets = set(moved["variants"].astype(str))
        alone = frame.loc[(frame["experiment"] == self.learner) & frame["algorithm"].isin([self.learner, NO_TRANSFER])
                          & (frame["n_tasks"] == 1) & frame["variants"].astype(str).isin(targets)]
        return pd.concat([moved, alone.assign(algorithm=NO_TRANSFER)], ignore_index=True)

    def select(self, frame: pd.DataFrame) -> pd.DataFrame:
        if frame.empty or "experiment" not in frame.columns:
            return frame
        both = self._with_baseline(frame, f"{self.learner}_transfer")
        return both.assign(task=both["variants"].astype(str))

    def reference_rows(self, summaries: pd.DataFrame, metric: str) -> pd.DataFrame:
        return self._with_baseline(summaries.loc[summaries["metric"] == metric], f"{self.learner}_transfer")

    def their_algorithm(self, algorithm: str, theirs: Iterable[str]) -> str | None:
        return their_setting(algorithm, sorted(set(theirs)))

    def comparison_columns(self, table: pd.DataFrame) -> pd.DataFrame:
        load_into = table["algorithm"].map(
            lambda s: "online" if s.endswith("_online") else ("" if s == NO_TRANSFER else "online_and_target"))
        head = table.rename(columns={"algorithm": "setting", "theirs": "theirs_setting"}).assign(load_into=load_into)
        return head[["metric", "width", "setting", "theirs_setting", "load_into", "task"]]

    def comparison_labels(self) -> dict[str, str]:
        return {"task": "target", "width": "width", "setting": "setting", "load_into": "ours loaded into"}


def study(learner: str) -> TransferStudy:
    """The transfer study of ``learner`` (one of :data:`LEARNERS`)."""
    if learner not in LEARNERS:
        raise ValueError(f"learner must be one of {LEARNERS}")
    learner_study = {"dqn": dqn_tables.STUDY, "ddpg": ddpg_tables.STUDY}[learner]
    return TransferStudy(
        experiment=f"transfer_{learner}", baseline=NO_TRANSFER,
        title=f"Transfer of the shared layers ({learner.upper()}) to each held-out task",
        algorithm_labels={}, task_order=(), task_labels=learner_study.task_labels,
        paper_epochs=learner_study.paper_epochs,
        published_setting=f"{PUBLISHED_RUNS[learner]} runs, their shared layers loaded into the online network only",
        score_convention=reference.CONVENTIONS[learner], metric_labels=learner_study.metric_labels,
        rows_by=("task", "width"), axis="setting", published=learner, shipped=f"{learner}_transfer", learner=learner)


def learner_cli(make_parser: Callable, act: Callable, prog: str, description: str,
                argv: Sequence[str] | None) -> int:
    """A transfer CLI: ``make_parser(prog, description)`` + --learner, then ``act(study(learner), args)``."""
    parser = make_parser(prog, description)
    parser.add_argument("--learner", choices=LEARNERS, default="dqn", help="dqn or ddpg (default dqn)")
    args = parser.parse_args(argv)
    return act(study(args.learner), args)


def main(argv: Sequence[str] | None = None) -> int:
    return learner_cli(mt.tables_parser, mt.write_tables, "python -m analysis.transfer_tables",
                       "Transfer vs no transfer per held-out task, and ours vs the published (CSV, Markdown, LaTeX).",
                       argv)


if __name__ == "__main__":
    raise SystemExit(run(main))
