"""``mtrl-bench bound avi|api|approx``: evaluate the paper's bounds from command-line numbers.

Examples::

    mtrl-bench bound avi --error 0.01 --iterations 50 --gamma 0.95 --rmax 1 --concentrability 1
    mtrl-bench bound avi --errors 0.04 0.02 0.01 --gamma 0.9 0.95
    mtrl-bench bound approx --n-samples 50 --n-tasks 1 2 4 8 --delta 0.05 --scaling rates \\
        --input-map-gaussian 1 --input-map-output-norm 1 --shared-gaussian-ratio 1 \\
        --representation-output-norm 1 --head-gaussian-ratio 1
"""

from __future__ import annotations

import argparse
import json

from mtrl_bench.errors import ConfigError
from mtrl_bench.theory.approx_error import (
    ClassComplexities,
    ComplexityRates,
    approximation_error_bound,
)
from mtrl_bench.theory.avi import multitask_api_bound, multitask_avi_bound


def register(groups: dict) -> None:
    for kind, help_text in [("avi", "multi-task AVI error propagation (Theorem 2; T = 1 is Theorem 1)"),
                            ("api", "multi-task API counterpart (reconstructed; tail term unverified)")]:
        parser = groups["bound"].add_parser(kind, help=help_text)
        _add_propagation_arguments(parser)
        parser.set_defaults(func=run_propagation_bound, bound_kind=kind)
    parser = groups["bound"].add_parser("approx", help="approximation-error bound (Theorem 3), term by term")
    _add_approximation_arguments(parser)
    parser.set_defaults(func=run_approximation_bound)


def _add_propagation_arguments(parser: argparse.ArgumentParser) -> None:
    errors = parser.add_mutually_exclusive_group(required=True)
    errors.add_argument("--errors", type=float, nargs="+",
                        help="task-averaged squared approximation errors eps_avg,0 .. eps_avg,K-1")
    errors.add_argument("--error", type=float, help="one squared error used at every iteration (with --iterations)")
    parser.add_argument("--iterations", type=int, help="K, the number of iterations (with --error)")
    parser.add_argument("--gamma", type=float, nargs="+", required=True,
                        help="discount(s), one per task or one for all; the largest is used")
    parser.add_argument("--rmax", type=float, nargs="+", default=[1.0],
                        help="Rmax per task or one for all; their mean is used (default 1)")
    parser.add_argument("--concentrability", type=float, nargs="+", default=[1.0],
                        help="effective concentrability: one constant c (the standard assumption) or one per "
                             "iteration (K values); default 1")
    parser.add_argument("--json", action="store_true", help="print the terms as JSON")


def run_propagation_bound(args: argparse.Namespace) -> int:
    if args.errors is not None:
        if args.iterations is not None and args.iterations != len(args.errors):
            raise ConfigError(f"--iterations {args.iterations} disagrees with the {len(args.errors)} --errors")
        errors = list(args.errors)
    else:
        if args.iterations is None:
            raise ConfigError("--error needs --iterations K")
        if args.iterations < 1:
            raise ConfigError(f"--iterations must be >= 1, got {args.iterations}")
        errors = [args.error] * args.iterations
    concentrability = args.concentrability[0] if len(args.concentrability) == 1 else args.concentrability
    evaluate = multitask_avi_bound if args.bound_kind == "avi" else multitask_api_bound
    bound = evaluate(errors, args.gamma, args.rmax, concentrability)
    _print_terms(bound.terms(), args.json, title=f"{args.bound_kind.upper()} bound (K = {bound.n_iterations})")
    return 0


_COMPLEXITY_HELP = {
    "lipschitz_heads": "L(F)",
    "lipschitz_shared": "L(H)",
    "input_map_gaussian": "sup_l G(W(X_l)) (rates: per sqrt(n))",
    "input_map_output_norm": "sup_w ||w(X)|| (rates: per sqrt(nT))",
    "shared_gaussian_ratio": "O(H)",
    "shared_offset_gaussian": "min_p G(H(p))",
    "representation_output_norm": "sup ||h(w(X))|| (rates: per sqrt(nT))",
    "head_gaussian_ratio": "O(F)",
}


def _add_approximation_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n-samples", type=int, required=True, help="n, samples per task")
    parser.add_argument("--n-tasks", type=int, nargs="+", required=True, help="T; several values give a table")
    parser.add_argument("--delta", type=float, default=0.05, help="confidence parameter in (0, 1)")
    parser.add_argument("--scaling", choices=["given", "rates"], default="given",
                        help="given: the complexities are values at (n, T); rates: the norms are per sqrt(nT) "
                             "and sup G(W(X_l)) per sqrt(n) (the paper's assumptions)")
    defaults = ClassComplexities()
    for name, text in _COMPLEXITY_HELP.items():
        parser.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(defaults, name),
                            help=f"{text} (default {getattr(defaults, name)})")
    parser.add_argument("--best-in-class-error", type=float, default=0.0, help="eps*_avg (default 0)")
    parser.add_argument("--constants", type=float, nargs=4, default=[1.0, 1.0, 1.0, 1.0],
                        metavar=("C1", "C2", "C3", "C4"), help="universal constants (default 1 1 1 1)")
    parser.add_argument("--log-numerator", type=float, default=3.0,
                        help="q in ln(q/delta): 3 in the paper, 4 in Maurer et al. (default 3)")
    parser.add_argument("--loss-lipschitz", type=float, default=1.0, help="Lipschitz constant of the loss")
    parser.add_argument("--loss-range", type=float, default=1.0, help="maximum of the loss")
    parser.add_argument("--json", action="store_true", help="print the terms as JSON")


def run_approximation_bound(args: argparse.Namespace) -> int:
    values = {name: getattr(args, name) for name in _COMPLEXITY_HELP}
    options = {"best_in_class_error": args.best_in_class_error, "constants": tuple(args.constants),
               "log_numerator": args.log_numerator, "loss_lipschitz": args.loss_lipschitz,
               "loss_range": args.loss_range}
    table = []
    for n_tasks in args.n_tasks:
        if args.scaling == "rates":
            rates = ComplexityRates(
                lipschitz_heads=values["lipschitz_heads"], lipschitz_shared=values["lipschitz_shared"],
                input_map_gaussian_rate=values["input_map_gaussian"],
                input_norm_rate=values["input_map_output_norm"],
                shared_gaussian_ratio=values["shared_gaussian_ratio"],
                shared_offset_gaussian=values["shared_offset_gaussian"],
                representation_norm_rate=values["representation_output_norm"],
                head_gaussian_ratio=values["head_gaussian_ratio"])
            complexities = rates.at(args.n_samples, n_tasks)
        else:
            complexities = ClassComplexities(**values)
        bound = approximation_error_bound(args.n_samples, n_tasks, args.delta, complexities, **options)
        table.append({"n_tasks": n_tasks, **bound.terms()})
    if args.json:
        print(json.dumps(table if len(table) > 1 else table[0], indent=2))
        return 0
    print(f"Theorem 3 approximation-error bound, n = {args.n_samples}, delta = {args.delta}, "
          f"complexities {args.scaling}")
    names = list(table[0])
    print("  ".join(f"{name:>{len(name)}}" for name in names))
    for row in table:
        print("  ".join(f"{row[name]:>{len(name)}.6g}" for name in names))
    return 0


def _print_terms(terms: dict[str, float], as_json: bool, title: str) -> None:
    if as_json:
        print(json.dumps(terms, indent=2))
        return
    print(title)
    for name, value in terms.items():
        print(f"  {name:<24} {value:.6g}")
