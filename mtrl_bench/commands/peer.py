"""``mtrl-bench peer ddpg|dqn``: our single-task learner against stable-baselines3's, side by side.

Prints per-epoch scores (mean +- 95% CI over seeds) of both sides, Welch's t-test per epoch and a verdict
(see :mod:`mtrl_bench.peer`); ``--out`` keeps the scores as a tidy CSV, ``--reuse`` takes the peer's scores
from such a file instead of training it again (the peer does not depend on our settings' ``network``).
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from mtrl_bench.errors import ConfigError


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"give KEY=VALUE (a Config field), got {text!r}")
    return key.replace("-", "_"), value


def register(groups: dict) -> None:
    from mtrl_bench import peer

    top = groups["top"].add_parser("peer", help="our single-task learner vs stable-baselines3's (needs the peer "
                                                "extra): per-epoch scores with 95%% CIs and a verdict")
    kinds = top.add_subparsers(dest="algorithm", required=True, metavar="ALGORITHM")
    for name, envs, settings, help_text in [
            ("ddpg", peer.DDPG_ENVS, peer.DDPG_SETTINGS, "our DDPG vs stable-baselines3's DDPG"),
            ("dqn", peer.DQN_ENVS, peer.DQN_SETTINGS, "our DQN vs stable-baselines3's DQN")]:
        p = kinds.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--env", required=True, choices=list(envs), help="gymnasium environment id")
        p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default 0 1 2)")
        p.add_argument("--epochs", type=int, default=settings["epochs"])
        p.add_argument("--steps-per-epoch", type=int, default=settings["steps_per_epoch"])
        p.add_argument("--test-steps", type=int, default=settings["test_steps"])
        if name == "ddpg":
            p.add_argument("--network", choices=["paper", "common"], default="paper",
                           help="our networks: the paper's or the common ones (the peer's)")
        p.add_argument("--set", type=_setting, nargs="*", default=[], metavar="KEY=VALUE",
                       help="other fields of our Config (the peer gets the same where it has them)")
        p.add_argument("--out", default=None, help="tidy CSV of the scores (side, seed, epoch, score)")
        p.add_argument("--reuse", default=None, metavar="CSV", help="take the peer's scores from a previous --out")
        p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from mtrl_bench import peer

    overrides = dict(args.set)
    overrides.update(epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, test_steps=args.test_steps)
    if getattr(args, "network", None) is not None:
        overrides["network"] = args.network
    reuse = None
    if args.reuse:
        try:
            reuse = pd.read_csv(args.reuse)
        except FileNotFoundError as err:
            raise ConfigError(f"--reuse {args.reuse}: no such file (give a CSV written by --out)") from err
    compare = peer.compare_ddpg if args.algorithm == "ddpg" else peer.compare_dqn
    comparison = compare(args.env, args.seeds, reuse=reuse, **overrides)
    if args.out:
        comparison.scores.assign(env=args.env, algorithm=args.algorithm).to_csv(args.out, index=False)
    print(peer.format_table(comparison), file=sys.stdout, flush=True)
    return 0
