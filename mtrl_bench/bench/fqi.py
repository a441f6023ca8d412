"""``mtrl-bench bench fqi``: how fast the MFQI fit runs, against the machine and against the authors' way.

All figures are measured in the same run (CPU seconds on a CPU, synchronised wall seconds on a GPU), so the
ratios hold on a loaded machine.

Design notes: docs/fqi.md#what-bench-fqi-measures.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mtrl_bench.algos import fqi_native
from mtrl_bench.algos.fqi import FIT_RULES, FitRule, FQILearner, bellman_targets, rule_learning_rate
from mtrl_bench.algos.fqi_fit import FitOptions, TaskTensors, fit
from mtrl_bench.algos.fqi_fused import step_flops_per_row
from mtrl_bench.bench import qstar as qstar_bench
from mtrl_bench.bench import sgemm_gflops, sync
from mtrl_bench.bench.fqi_profile import Profile, authors_profile, complete
from mtrl_bench.device import cpu_cores
from mtrl_bench.nets import NetSpec, SharedMultiTaskNet
from mtrl_bench.optim import MemberAdam
from mtrl_bench.tasks.car_on_hill import dynamics as coh
from mtrl_bench.tasks.car_on_hill.datasets import DatasetSpec, generate

PAPER_TASKS = (1, 2, 4, 8)
PAPER_SEEDS = 100
# The paper config re-packs the running seeds every this many steps (workflow/config/paper.yaml).
REPACK_EVERY = 500
# Bytes per row of the fused step's workspace at width 30: activations with a ones row (2 x 31),
# pre-activations and gradients (4 x 30), head and loss terms (~10), float32.
WORKSPACE_FLOATS_PER_ROW = 2 * 31 + 4 * 30 + 10


def _task_data(n_tasks: int, device: torch.device) -> TaskTensors:
    sets = [generate(p, DatasetSpec()) for p in coh.nested_task_set(n_tasks)]
    return TaskTensors.stack(sets, device, torch.float32)


def _clock(device: torch.device) -> float:
    sync(device)
    return time.perf_counter() if device.type == "cuda" else time.process_time()


# Timed rounds per figure; each figure is its fastest round (the least disturbed on a shared machine).
REPEATS = 3


def _seconds_per_call(call, calls: int, device: torch.device, repeats: int = REPEATS, clock=None) -> float:
    """Mean seconds of ``call()`` over ``calls`` calls after one warm-up call, fastest of ``repeats`` rounds.

    ``clock``: a function giving seconds (default :func:`_clock`: CPU seconds on a CPU, synchronised wall
    seconds on a GPU; wall seconds are what a multi-threaded call needs)."""
    clock = clock or (lambda: _clock(device))
    call()
    best = math.inf
    for _ in range(repeats):
        start = clock()
        for _ in range(calls):
            call()
        best = min(best, (clock() - start) / calls)
    return best


class AuthorsNet(nn.Module):
    """One run of the authors' network: per-task input and head layers around one shared layer."""

    def __init__(self, n_tasks: int, width: int = 30, n_actions: int = 2):
        super().__init__()
        self.inputs = nn.ModuleList(nn.Linear(2, width) for _ in range(n_tasks))
        self.shared = nn.Linear(width, width)
        self.heads = nn.ModuleList(nn.Linear(width, n_actions) for _ in range(n_tasks))

    def forward(self, states: list[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.tanh(head(torch.sigmoid(self.shared(torch.sigmoid(inp(x))))))
                for x, inp, head in zip(states, self.inputs, self.heads)]


def time_authors_step(data: TaskTensors, steps: int, device: torch.device, width: int = 30) -> float:
    """Seconds per full-batch Adam step of one run the authors' way, on the same (unpadded) rows."""
    n_tasks = data.states.shape[0]
    lengths = data.weight.sum(-1).long().tolist()
    states = [data.states[t, :n] for t, n in enumerate(lengths)]
    actions = torch.cat([data.actions[t, :n] for t, n in enumerate(lengths)])
    targets = torch.cat([data.rewards[t, :n] for t, n in enumerate(lengths)])
    torch.manual_seed(0)
    net = AuthorsNet(n_tasks, width).to(device)
    optimizer = torch.optim.Adam(net.parameters())

    def step():
        optimizer.zero_grad()
        q = torch.cat(net(states)).gather(1, actions[:, None]).squeeze(1)
        torch.nn.functional.mse_loss(q, targets).backward()
        optimizer.step()

    return _seconds_per_call(step, steps, device)


def time_fit_steps(n_seeds: int, data: TaskTensors, width: int, steps: int, device: torch.device,
                   options: FitOptions | None) -> float:
    """Seconds per step of S batched seeds, through :func:`fit` with ``options`` (patience never ends it)."""
    n_tasks = data.states.shape[0]
    spec = NetSpec(n_tasks=n_tasks, obs_dim=2, n_actions=[2] * n_tasks, input_width=30, shared_widths=(width,))
    net = SharedMultiTaskNet(spec, list(range(n_seeds)), device=device)
    optimizer = MemberAdam(net.parameters())
    targets = bellman_targets(None, data, coh.GAMMA).expand(n_seeds, -1, -1)
    active = torch.ones(n_seeds, dtype=torch.bool, device=device)
    if options is not None:  # one host check per timed call, as the fit does every sync_every steps
        options = FitOptions(kernel=options.kernel, sync_every=steps, cuda_graph=options.cuda_graph,
                             rows_per_tile=options.rows_per_tile)

    def call():
        fit(net, optimizer, data, targets, active, patience=10**9, tolerance=0.0, max_steps=steps,
            options=options)

    return _seconds_per_call(call, 1, device) / steps


@dataclass
class Point:
    """One (T, S, kernel) measurement."""

    n_tasks: int
    n_seeds: int
    kernel: str
    step_s: float  # seconds per step of the whole batch
    real_rows: int  # unpadded rows of one seed (all tasks)
    flops_per_row: int

    @property
    def row_s(self) -> float:
        return self.step_s / (self.n_seeds * self.real_rows)

    @property
    def gflops(self) -> float:
        return self.flops_per_row / self.row_s / 1e9


def kernel_options(kernel: str, device: torch.device) -> FitOptions | None:
    if kernel == "autograd":
        return None  # the reference step-by-step loop
    return FitOptions(kernel=kernel, cuda_graph=device.type == "cuda")


def measure(device: torch.device, seeds: list[int], tasks: list[int], width: int, steps: int,
            kernels: list[str], out=print, fma: float | None = None) -> tuple[float, dict[int, float], list[Point]]:
    """(a) sgemm GFLOP/s, (b) the authors' seconds per row for each T, (c) our points."""
    peak = sgemm_gflops(device, 2048, calls=3 if device.type == "cpu" else 20, clock=lambda: _clock(device))
    authors: dict[int, float] = {}
    points: list[Point] = []
    for n_tasks in tasks:
        data = _task_data(n_tasks, device)
        real_rows = int(data.weight.sum())
        authors[n_tasks] = time_authors_step(data, steps, device, width) / real_rows
        spec = NetSpec(n_tasks=n_tasks, obs_dim=2, n_actions=[2] * n_tasks, shared_widths=(width,))
        flops = step_flops_per_row(SharedMultiTaskNet(spec, [0]))
        for n_seeds in seeds:
            # A GPU fit call captures its CUDA graph (and takes 3 warm-up steps) first: time enough steps
            # per call that this costs what it costs in a real fit, a few per cent at most.
            n_steps = max(2, steps // max(1, n_seeds // 10)) if device.type == "cpu" else max(steps, 500)
            for kernel in kernels:
                step_s = time_fit_steps(n_seeds, data, width, n_steps, device, kernel_options(kernel, device))
                points.append(Point(n_tasks, n_seeds, kernel, step_s, real_rows, flops))
                out(format_point(points[-1], peak, authors[n_tasks], fma))
    return peak, authors, points


def format_point(p: Point, peak: float, authors_row_s: float, fma: float | None = None) -> str:
    return (f"{p.n_tasks:>3} {p.n_seeds:>4} {p.kernel:>9} {p.real_rows:>6} {p.step_s * 1e3:>10.2f} "
            f"{p.row_s * 1e9:>8.0f} {p.gflops:>8.1f} {p.gflops / peak:>7.0%} {authors_row_s / p.row_s:>9.2f}"
            + (f" {p.gflops / fma:>6.0%}" if fma else ""))


POINT_HEADER = (f"{'T':>3} {'S':>4} {'kernel':>9} {'rows':>6} {'ms/step':>10} {'ns/row':>8} {'GFLOP/s':>8} "
                f"{'of peak':>7} {'x authors':>9}")
POINT_HEADER_FMA = POINT_HEADER + f" {'of FMA':>6}"


def _step_time_at(points: dict[int, float], running: float) -> float:
    """Seconds per step with ``running`` members, interpolated log-log between measured batch sizes."""
    sizes = sorted(points)
    if running <= sizes[0]:
        return points[sizes[0]]
    if running >= sizes[-1]:
        return points[sizes[-1]] * running / sizes[-1]
    for lo, hi in zip(sizes[:-1], sizes[1:]):
        if lo <= running <= hi:
            f = math.log(running / lo) / math.log(hi / lo)
            return math.exp((1 - f) * math.log(points[lo]) + f * math.log(points[hi]))
    raise AssertionError("unreachable")


def project_run(step_times: dict[int, float], profile: Profile | None = None, n_seeds: int = PAPER_SEEDS,
                repack: bool = True) -> float:
    """Seconds of one job (``n_seeds`` seeds of one task set) over the profile's iterations.

    ``step_times`` maps batch size -> seconds per step; ``profile`` gives each iteration's steps per seed
    (default: the authors' figures, :func:`~mtrl_bench.bench.fqi_profile.authors_profile`), read as the
    distribution of the job's seeds. Without re-packing every step costs the full batch's time until
    the slowest seed stops; with it, every REPACK_EVERY steps the batch shrinks to the seeds still running.
    """
    profile = authors_profile() if profile is None else profile
    total = 0.0
    for counts in profile:
        last = float(np.max(counts))
        if not repack:
            total += last * _step_time_at(step_times, n_seeds)
            continue
        step = 0.0
        while step < last:
            chunk = min(REPACK_EVERY, last - step)
            running = n_seeds * float(np.mean(counts > step))
            total += chunk * _step_time_at(step_times, max(1.0, running))
            step += chunk
    return total


def project_paper(points: list[Point], kernel: str, device: torch.device, workers: int, out=print,
                  profiles: dict[int, Profile] | None = None) -> dict:
    """(d): per-job and whole-sweep time of the paper sweep, and what each job should request.

    ``profiles``: measured steps per iteration per T (:mod:`mtrl_bench.bench.fqi_profile`); None = the
    authors' figures for every T.
    """
    mine = [p for p in points if p.kernel == kernel]
    by_task: dict[int, dict[int, float]] = {}
    rows: dict[int, int] = {}
    for p in mine:
        by_task.setdefault(p.n_tasks, {})[p.n_seeds] = p.step_s
        rows[p.n_tasks] = p.real_rows
    if 1 not in by_task or 8 not in by_task or set(by_task[1]) != set(by_task[8]):
        out(f"(d) needs the {kernel} kernel measured at T = 1 and 8 with the same seed counts")
        return {}
    report: dict = {"kernel": kernel, "device": str(device), "jobs": {},
                    "profile": "authors' figures" if profiles is None else "measured"}
    source = ("the authors' steps per iteration (53,500, then 14,000 to iteration 20, then 650; seeds "
              "spread 0.5-1.5x)" if profiles is None else "measured steps per iteration")
    out(f"(d) the paper sweep (T in 1,2,4,8 x {PAPER_SEEDS} seeds, 50 uncapped iterations), {kernel} kernel on "
        f"{device.type}, re-packing every {REPACK_EVERY} steps; {source}; step times of T = 2, 4 interpolated:")
    for n_tasks in PAPER_TASKS:
        f = (n_tasks - 1) / 7  # linear in T between the measured T = 1 and T = 8
        times = {s: (1 - f) * by_task[1][s] + f * by_task[8][s] for s in by_task[1]}
        rows_per_member = rows[1] + (rows[8] - rows[1]) * f
        profile, note = (authors_profile(), "") if profiles is None else complete(profiles, n_tasks)
        job_s = project_run(times, profile, repack=True)
        plain_s = project_run(times, profile, repack=False)
        steps_per_seed = float(sum(np.mean(c) for c in profile))
        if kernel == "native":  # its tiles live in a few KB of registers and L1
            tile_rows = 0
        elif device.type != "cpu":  # the fused kernel on a GPU: every member's rows in one tile
            tile_rows = PAPER_SEEDS * rows_per_member
        else:
            tile_rows = FitOptions().rows_per_tile
        memory_gb = (tile_rows * WORKSPACE_FLOATS_PER_ROW + 4 * PAPER_SEEDS * rows_per_member) * 4 / 1e9 + 1.0
        report["jobs"][n_tasks] = {"seconds": job_s, "seconds_without_repacking": plain_s,
                                   "steps_per_seed": steps_per_seed, "profile": note or "authors' figures",
                                   "memory_gb": memory_gb, "request_minutes": math.ceil(1.5 * job_s / 60),
                                   "request_memory_gb": math.ceil(memory_gb)}
        out(f"    T={n_tasks}: one job of {PAPER_SEEDS} seeds {job_s / 3600:7.2f} h with re-packing "
            f"({plain_s / 3600:.2f} h without; {steps_per_seed:,.0f} steps per seed); ask for "
            f"{math.ceil(1.5 * job_s / 60)} min, {math.ceil(memory_gb)} GB" + (f"  [{note}]" if note else ""))
    total = sum(j["seconds"] for j in report["jobs"].values())
    parallel = max(j["seconds"] for j in report["jobs"].values())
    report["sweep_seconds_one_worker"] = total
    report["sweep_core_hours"] = total / 3600 if device.type == "cpu" else None
    out(f"    whole sweep: {total / 3600:.2f} h on one {device.type} worker"
        + (f" ({total / 3600:.1f} core-hours); " if device.type == "cpu" else "; ")
        + f"{max(parallel, total / max(1, min(workers, len(PAPER_TASKS)))) / 3600:.2f} h with {workers} workers")
    return report


RULE_SEEDS = 24


@dataclass
class RuleCost:
    """One fit rule's cost over the first FQI iterations of S seeds (f)."""

    rule: str
    n_tasks: int
    n_seeds: int
    iterations: int
    cpu_s_per_seed: float  # CPU seconds of the whole batch / S, over the iterations
    steps_per_seed: float  # mean Adam steps per seed, summed over the iterations


def time_fit_rules(device: torch.device, n_tasks: int = 1, n_seeds: int = RULE_SEEDS, iterations: int = 2,
                   kernel: str = "auto", out=print) -> list[RuleCost]:
    """(f): each fit rule's CPU seconds and steps per seed over the first ``iterations`` FQI iterations of
    ``n_seeds`` seeds on the paper's nested task set of ``n_tasks`` (epsilon-greedy data, width 30,
    uncapped patience rule, host check every 100 steps, re-packing every 500), side by side."""
    sets = [generate(p, DatasetSpec(policy="epsilon_greedy")) for p in coh.nested_task_set(n_tasks)]
    spec = NetSpec(n_tasks=n_tasks, obs_dim=2, n_actions=[2] * n_tasks)
    options = FitOptions(kernel=kernel, sync_every=100, repack_every=REPACK_EVERY)
    costs = []
    for name in FIT_RULES:
        rule = FitRule(rule_learning_rate(name, 1e-3), 100, 1e-6, None, options)
        learner = FQILearner(spec, list(range(n_seeds)), sets, sets, coh.GAMMA, rule, device)
        start, steps = _clock(device), 0.0
        for _ in range(iterations):
            step = learner.iterate()
            steps += float(step.fit_steps.double().mean())
            learner.end_iteration(step.diverged)
        costs.append(RuleCost(name, n_tasks, n_seeds, iterations, (_clock(device) - start) / n_seeds, steps))
        out(f"    {name:>6} (Adam {rule.learning_rate:g}): {costs[-1].cpu_s_per_seed:7.2f} s and "
            f"{steps:,.0f} steps per seed")
    paper, fast = costs[0], costs[-1]
    out(f"    fast rule: {paper.cpu_s_per_seed / fast.cpu_s_per_seed:.1f}x fewer CPU seconds, "
        f"{paper.steps_per_seed / fast.steps_per_seed:.1f}x fewer steps than the paper's rule")
    return costs


def bench_dynamics(n_states: int = 100_000, n_odeint: int = 300) -> tuple[float, float]:
    """Seconds per state: (batched step of ``n_states`` at once, odeint one state at a time)."""
    from scipy.integrate import odeint

    rng = np.random.default_rng(0)
    states = np.stack([rng.uniform(-1, 1, n_states), rng.uniform(-3, 3, n_states)], 1)
    actions = rng.integers(0, 2, n_states)
    start = time.perf_counter()
    coh.step(states, actions, 1.0, 9.81, 4.0)
    batched = (time.perf_counter() - start) / n_states

    def rhs(y, _t, force):  # plain floats, as a hand-written scalar model would be
        p, v = y
        if p < 0:
            d1, d2 = 2 * p + 1, 2.0
        else:
            d1, d2 = (1 + 5 * p * p) ** -1.5, -15 * p * (1 + 5 * p * p) ** -2.5
        return [v, (force - 9.81 * d1 - v * v * d1 * d2) / (1 + d1 * d1)]

    start = time.perf_counter()
    for i in range(n_odeint):
        odeint(rhs, states[i], [0.0, coh.DT], args=(4.0 if actions[i] else -4.0,))
    return batched, (time.perf_counter() - start) / n_odeint


def native_thread_scaling(device: torch.device, threads: int, n_tasks: int = 1, n_seeds: int = 100,
                          calls: int = 5) -> tuple[float, float]:
    """Wall seconds of one native kernel call (loss and gradients, S = ``n_seeds``) on 1 and on ``threads``
    threads, measured side by side (best of REPEATS rounds each)."""
    data = _task_data(n_tasks, device)
    spec = NetSpec(n_tasks=n_tasks, obs_dim=2, n_actions=[2] * n_tasks)
    net = SharedMultiTaskNet(spec, list(range(n_seeds)))
    params = {k: v.detach() for k, v in net.params.items()}
    targets = bellman_targets(None, data, coh.GAMMA).expand(n_seeds, -1, -1).contiguous()
    times = []
    for count in (1, threads):
        step = fqi_native.NativeFitStep(net, data.states, data.actions, data.weight, threads=count)
        times.append(_seconds_per_call(lambda step=step: step.loss_and_grads(params, targets), calls, device,
                                       clock=time.perf_counter))
    return times[0], times[1]


def runnable_kernels(kernels: tuple[str, ...], device: torch.device, width: int, out=print) -> tuple[str, ...]:
    """``kernels`` less the native one where it cannot run (not a CPU, no compiler), saying why."""
    if "native" not in kernels:
        return kernels
    try:
        fqi_native.require(NetSpec(n_tasks=1, obs_dim=2, n_actions=[2], shared_widths=(width,)), device,
                           torch.float32)
    except fqi_native.NativeKernelUnavailable as err:
        out(f"(native kernel skipped: {err})")
        return tuple(k for k in kernels if k != "native")
    return kernels


def run(device: torch.device, seeds: list[int], tasks: list[int], width: int, steps: int,
        qstar: bool, workers: int, out=print, kernels: tuple[str, ...] = ("autograd", "fused", "native"),
        project: str | None = None, dynamics: bool = True, profiles: dict[int, Profile] | None = None,
        rule_iterations: int = 0) -> dict:
    """The benchmark. ``project="paper"`` measures only what (d) needs (the fastest kernel that runs
    here: native on a CPU, fused on a GPU; T = 1 and 8). ``rule_iterations``: FQI iterations of (f)
    (0: skip it)."""
    torch.set_num_threads(1)
    if project == "paper":
        tasks, kernels, qstar, dynamics, rule_iterations = [1, 8], ("native",), False, False, 0
    kernels = runnable_kernels(tuple(kernels), device, width, out)
    if project == "paper" and not kernels:  # no native kernel here: project with the fused one
        kernels = ("fused",)
    out(f"MFQI fit benchmark on {device} (torch {torch.__version__}, {torch.get_num_threads()} thread), "
        f"width {width}, {steps} timed steps per point; "
        + ("CPU seconds of this process" if device.type == "cpu" else "wall seconds"))
    report: dict = {"device": str(device)}
    out("(c) ours against (a) the sgemm peak and (b) the authors' way (one nn.Module run, torch Adam):")
    fma = fqi_native.fma_peak_gflops() if device.type == "cpu" and "native" in kernels else None
    out(POINT_HEADER_FMA if fma else POINT_HEADER)
    peak, authors, points = measure(device, seeds, tasks, width, steps, list(kernels), out, fma)
    out(f"(a) sgemm {2048}^3, one thread: {peak:.1f} GFLOP/s (\"of peak\")")
    if fma:
        out(f"(a') this core's multiply-add limit, a compiled probe with the native kernel's vectors: {fma:.1f} "
            f"GFLOP/s (\"of FMA\"; sgemm reaches {peak / fma:.0%} of it)")
    flops = points[0].flops_per_row
    for n_tasks, row_s in authors.items():
        out(f"(b) authors' way, T={n_tasks}: {row_s * 1e9:.0f} ns per row, {flops / row_s / 1e9:.1f} GFLOP/s "
            f"({flops / row_s / 1e9 / peak:.0%} of peak)")
    report.update(sgemm_gflops=peak, fma_peak_gflops=fma, authors_row_s=authors,
                  points=[dict(vars(p), row_s=p.row_s, gflops=p.gflops) for p in points])
    if 1 in tasks and 8 in tasks:
        report["paper"] = {kernel: project_paper(points, kernel, device, workers, out, profiles)
                           for kernel in kernels}
    threads = cpu_cores()
    if "native" in kernels and threads > 1 and project is None:
        one, many = native_thread_scaling(device, threads)
        report["native_threads"] = {"threads": threads, "one_s": one, "many_s": many}
        out(f"(c') native kernel, T=1, S=100, one call: {one * 1e3:.1f} ms on 1 thread, {many * 1e3:.1f} ms on "
            f"{threads} threads (wall): {one / many:.2f}x (members shared among threads; same numbers)")
    if rule_iterations:
        out(f"(f) fit rules, T=1, S={RULE_SEEDS}, FQI iterations 1-{rule_iterations} (uncapped), "
            + ("CPU seconds" if device.type == "cpu" else "wall seconds") + " per seed, measured side by side:")
        kernel = "native" if "native" in kernels else kernels[-1]
        report["rules"] = [vars(c) for c in time_fit_rules(device, 1, RULE_SEEDS, rule_iterations, kernel, out)]
    if dynamics:
        batched, looped = bench_dynamics()
        report["dynamics_speedup"] = looped / batched
        out(f"(e) Car-On-Hill step: batched {batched * 1e6:.2f} us/state, odeint loop {looped * 1e6:.1f} us/state: "
            f"{looped / batched:.0f}x faster per state")
    if qstar:
        timing = qstar_bench.run(workers, out=lambda _line: None)  # each variant in its own process
        total, per_variant = timing["wall_s"], [(r["name"], r["seconds"]) for r in timing["per_variant"]]
        report["qstar_total_s"] = total
        slowest = max(per_variant, key=lambda x: x[1])
        out(f"(q) exact Q* of all 16 variants on the paper grid: {total:.1f} s wall with {workers} processes "
            f"(sum {sum(t for _, t in per_variant):.1f} s; slowest {slowest[0]} {slowest[1]:.1f} s)")
    return report


def default_workers() -> int:
    return min(cpu_cores(), 16)
