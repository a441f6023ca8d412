"""``mtrl-bench bench fqi``: how fast MFQI runs, and how close the batched fit gets to the machine.

(a) Time of one MFQI iteration per seed with S = 1, 10, 100 seeds batched, for T = 1 and T = 8.
    An "iteration" here is the targets plus ``fit_steps`` full-batch Adam steps (the paper's rule
    takes ~650 steps at the median iteration, tens of thousands in the first few).
(b) The floating-point rate of the batched fit step, against the rate of a plain torch matrix
    product chain of the same shapes (the same forward and backward matmuls in the same member
    blocks, nothing else), measured in the same run: the machine's practical limit for them.
(c) The total time of the exact Q* for all 16 variants, one process per core.
(e) The batched Car-On-Hill step against scipy's odeint (the authors' integrator) in a loop, per state.
(d) The projected wall time of the paper-scale sweep (T in {1,2,4,8}, 100 seeds, 50 iterations,
    uncapped fit rule) from the measured step times.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from mtrl_bench.algos.fqi import bellman_targets
from mtrl_bench.algos.fqi_fit import TaskTensors, fit_blocks, fit_step
from mtrl_bench.device import cpu_cores
from mtrl_bench.nets import NetSpec, SharedMultiTaskNet
from mtrl_bench.optim import MemberAdam
from mtrl_bench.tasks.car_on_hill import dynamics as coh
from mtrl_bench.tasks.car_on_hill.datasets import DatasetSpec, generate
from mtrl_bench.tasks.car_on_hill.qstar import q_star_table

# Steps of one uncapped paper run (T=1), measured with the authors' code and ours on 2 cores
# (facts: ~340,000 full-batch steps over 50 iterations); batched seeds run until the slowest member
# stops, which we account for with a factor on the median run.
PAPER_STEPS_PER_RUN = 340_000
SLOWEST_MEMBER_FACTOR = 1.5


def _task_data(n_tasks: int, device: torch.device) -> TaskTensors:
    sets = [generate(p, DatasetSpec()) for p in coh.nested_task_set(n_tasks)]
    return TaskTensors.stack(sets, device, torch.float32)


def _fit_flops(spec: NetSpec, rows: int) -> float:
    """FLOPs of one forward + backward pass: 3 x (2 x multiply-adds of the three linear maps)."""
    widths = [spec.obs_dim, spec.input_width, *spec.shared_widths, spec.n_actions_max]
    macs = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    return 3 * 2 * macs * rows


def time_fit_steps(n_seeds: int, data: TaskTensors, width: int, steps: int, device: torch.device) -> float:
    """Seconds per full-batch Adam step (targets included once per iteration, amortised)."""
    n_tasks = data.states.shape[0]
    spec = NetSpec(n_tasks=n_tasks, obs_dim=2, n_actions=[2] * n_tasks, input_width=30, shared_widths=(width,))
    net = SharedMultiTaskNet(spec, list(range(n_seeds)), device=device)
    opt = MemberAdam(net.parameters())
    targets = bellman_targets(net, data, coh.GAMMA)
    share = data.weight.sum(-1) / data.weight.sum()
    running = torch.ones(n_seeds, dtype=torch.bool, device=device)
    blocks = fit_blocks(net, data)

    return _seconds_per_call(lambda: fit_step(net, opt, data, targets, share, running, blocks), steps, device)


def time_matmul_chain(n_seeds: int, data: TaskTensors, width: int, steps: int, device: torch.device) -> float:
    """Seconds for the matrix products of one fit step alone, in the shapes the fit uses.

    The same member blocks as :func:`mtrl_bench.algos.fqi.fit_blocks`; per block the three layers'
    products (task input maps batched over members x tasks, the shared layer over members with all
    tasks' rows, the heads over members x tasks), each forward and both backward products.
    """
    n_tasks, n_rows = data.states.shape[:2]
    gen = torch.Generator().manual_seed(0)
    spec = NetSpec(n_tasks=n_tasks, obs_dim=2, n_actions=[2] * n_tasks, input_width=30, shared_widths=(width,))
    probe = SharedMultiTaskNet(spec, list(range(n_seeds)), device=device)
    chains = []
    for block in fit_blocks(probe, data):
        members = block.stop - block.start
        shapes = [(members * n_tasks, n_rows, 2, 30), (members, n_tasks * n_rows, 30, width),
                  (members * n_tasks, n_rows, width, 2)]
        for batch, rows, fan_in, fan_out in shapes:
            x = torch.rand(batch, rows, fan_in, generator=gen).to(device)
            w = torch.rand(batch, fan_in, fan_out, generator=gen).to(device)
            g = torch.rand(batch, rows, fan_out, generator=gen).to(device)
            chains.append((x, w, g))

    def chain():
        for x, w, g in chains:
            torch.bmm(x, w)  # forward
            torch.bmm(g, w.transpose(1, 2))  # gradient w.r.t. the input
            torch.bmm(x.transpose(1, 2), g)  # gradient w.r.t. the weight

    return _seconds_per_call(chain, steps, device)


def _seconds_per_call(call, calls: int, device: torch.device) -> float:
    """Mean wall seconds of ``call()`` over ``calls`` calls after one warm-up call (GPU synchronised)."""
    call()
    _sync(device)
    start = time.perf_counter()
    for _ in range(calls):
        call()
    _sync(device)
    return (time.perf_counter() - start) / calls


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _qstar_one(index: int) -> tuple[str, float]:
    torch.set_num_threads(1)
    start = time.perf_counter()
    q_star_table(coh.VARIANTS[index])
    return coh.VARIANTS[index].name, time.perf_counter() - start


def bench_qstar(workers: int) -> tuple[float, list[tuple[str, float]]]:
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        per_variant = list(pool.map(_qstar_one, range(len(coh.VARIANTS))))
    return time.perf_counter() - start, per_variant


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


def run(device: torch.device, seeds: list[int], tasks: list[int], width: int, steps: int,
        qstar: bool, workers: int, out=print) -> dict:
    torch.set_num_threads(1)
    report: dict = {"device": str(device), "per_step": {}}
    out(f"MFQI benchmark on {device} (torch {torch.__version__}, {torch.get_num_threads()} thread), "
        f"shared width {width}, {steps} timed Adam steps per point")
    out("(a) time per seed of one iteration of fit steps  |  (b) batched fit vs plain matmul chain")
    out(f"{'T':>3} {'S':>4} {'rows/task':>9} {'s/step':>9} {'ms/step/seed':>13} {'speed-up/seed':>13} "
        f"{'GFLOP/s fit':>12} {'GFLOP/s mm':>11} {'fit/mm':>7}")
    for n_tasks in tasks:
        data = _task_data(n_tasks, device)
        base = None
        for n_seeds in seeds:
            n_steps = max(2, steps // max(1, n_seeds // 10)) if device.type == "cpu" else steps
            per_step = time_fit_steps(n_seeds, data, width, n_steps, device)
            mm = time_matmul_chain(n_seeds, data, width, n_steps, device)
            spec = NetSpec(n_tasks=n_tasks, obs_dim=2, n_actions=[2] * n_tasks, shared_widths=(width,))
            flops = _fit_flops(spec, n_seeds * n_tasks * data.states.shape[1])
            per_seed = per_step / n_seeds
            base = base or per_seed
            report["per_step"][(n_tasks, n_seeds)] = per_step
            out(f"{n_tasks:>3} {n_seeds:>4} {data.states.shape[1]:>9} {per_step:>9.4f} {per_seed * 1e3:>13.3f} "
                f"{base / per_seed:>13.1f} {flops / per_step / 1e9:>12.2f} {flops / mm / 1e9:>11.2f} "
                f"{mm / per_step:>7.0%}")
    biggest = max(seeds)
    if all((t, biggest) in report["per_step"] for t in (1, 8)):
        # (d): per-step times for T = 2, 4 interpolated linearly in T between the measured T = 1 and 8.
        t1, t8 = report["per_step"][(1, biggest)], report["per_step"][(8, biggest)]
        per_t = {t: t1 + (t8 - t1) * (t - 1) / 7 for t in (1, 2, 4, 8)}
        scale = 100 / biggest
        total = sum(per_t.values()) * scale * PAPER_STEPS_PER_RUN * SLOWEST_MEMBER_FACTOR
        report["paper_projection_s"] = total
        out(f"(d) paper-scale sweep (T in 1,2,4,8; 100 seeds batched per T; 50 uncapped iterations ~ "
            f"{PAPER_STEPS_PER_RUN:,} steps x {SLOWEST_MEMBER_FACTOR} for the slowest member): "
            f"{total / 3600:.1f} h on one {device.type} worker, {total / 3600 / max(1, workers):.1f} h with "
            f"{workers} workers")
    batched, looped = bench_dynamics()
    report["dynamics_speedup"] = looped / batched
    out(f"(e) Car-On-Hill step: batched {batched * 1e6:.2f} us/state, odeint loop {looped * 1e6:.1f} us/state: "
        f"{looped / batched:.0f}x faster per state")
    if qstar:
        total, per_variant = bench_qstar(workers)
        report["qstar_total_s"] = total
        slowest = max(per_variant, key=lambda x: x[1])
        out(f"(c) exact Q* of all 16 variants on the paper grid: {total:.1f} s wall with {workers} processes "
            f"(sum {sum(t for _, t in per_variant):.1f} s; slowest {slowest[0]} {slowest[1]:.1f} s)")
    return report


def default_workers() -> int:
    return min(cpu_cores(), 16)

