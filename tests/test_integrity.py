"""Nothing silently wrong, nothing clobbered (issue 21): outputs are regular files created with the umask's
mode after an early probe; every cached artefact (compiled kernel, dataset, Q* table, checkpoint) and every
results file is checked against a checksum written with it; damaged files are rebuilt with identical numbers
or refused in one line naming them; the authors' own file names are read and impossible values refused;
options and variants that cannot work are reported at once. docs/integrity.md has the probes behind each."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from analysis import aggregate
from analysis import cli as analysis_cli
from mtrl_bench import checkpoints, results
from mtrl_bench.cli import main as mtrl_main
from mtrl_bench.errors import ConfigError
from mtrl_bench.tasks.car_on_hill import authors_data, datasets, qstar
from mtrl_bench.tasks.car_on_hill import dynamics as coh
from mtrl_bench.tasks.car_on_hill.family import CarOnHillFamily

REPO = Path(__file__).resolve().parent.parent
CORRUPTIONS = ("truncate", "flip", "empty")


def corrupt(path: Path, how: str) -> None:
    """Damage ``path`` as a crash, a bad disk or a careless user would: cut it in half, zero 4 bytes in its
    middle, or empty it. The damaged bytes replace the file (a new inode), as a copy from elsewhere would."""
    data = path.read_bytes()
    middle = len(data) // 2
    damaged = {"truncate": data[:middle], "empty": b"",
               "flip": data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 4]) + data[middle + 4:]}[how]
    tmp = path.with_name(path.name + ".damaged")
    tmp.write_bytes(damaged)
    os.replace(tmp, path)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def rows(n: int = 4) -> list[dict]:
    return [{"experiment": "fqi", "algorithm": "mfqi", "variants": "1.000_4.000+0.800_4.000", "n_tasks": 2,
             "task": "1.000_4.000", "width": 30, "seed": s, "step": 1, "metric": "avi_diff", "value": 0.25 + s}
            for s in range(n)]


# -- outputs --------------------------------------------------------------------------------------------

def test_writes_refuse_a_fifo_a_folder_and_a_link_to_them_and_leave_them_alone(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    link = tmp_path / "link.csv"
    link.symlink_to(fifo)
    for target, kind in ((fifo, "FIFO"), (folder, "folder"), (link, "FIFO")):
        for write in (lambda p: results.atomic_write_text(p, "x"), results.check_writable):
            with pytest.raises(ConfigError, match=f"is a {kind}.*writes only regular files"):
                write(target)
    assert fifo.is_fifo() and folder.is_dir() and link.is_symlink() and sorted(os.listdir(folder)) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "link.csv", "pipe"]  # no temporary left


def test_a_symlink_output_is_followed_the_link_stays(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "run.csv"
    target.write_text("old")
    link = tmp_path / "run.csv"
    link.symlink_to(target)
    assert results.check_writable(link) == target
    results.write_results(link, rows(), {"k": 1})
    assert link.is_symlink() and results.read_results(link)[0]["seed"].tolist() == [0, 1, 2, 3]


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs Linux /sys")
def test_an_output_that_cannot_be_created_fails_before_any_work(tmp_path, capsys):
    with pytest.raises(ConfigError, match="cannot write /sys/x.csv"):
        results.check_writable("/sys/x.csv")
    started = time.monotonic()
    code = mtrl_main(["run", "fqi", "--variants", "3", "--iterations", "1", "--qstar-dir", str(tmp_path / "q"),
                      "--data-dir", str(tmp_path / "d"), "--out", "/sys/x.csv"])
    assert code == 2 and time.monotonic() - started < 20
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "/sys/x.csv" in err[0]
    assert not (tmp_path / "q").exists() and not (tmp_path / "d").exists()


def test_every_file_gets_the_umask_mode(tmp_path, umask_022):
    written = [
        results.atomic_write_text(tmp_path / "t.txt", "x"),
        results.write_results(tmp_path / "r.csv", rows(), {}),
        checkpoints.save_checkpoint(tmp_path / "c.pt", {"q.w": torch.ones(2)}, {"seed": 0}),
    ]
    datasets.load_or_generate(coh.VARIANTS[0], SMALL, tmp_path / "data")
    written += list((tmp_path / "data").iterdir())
    qstar.write_q_star_csv(tmp_path / "q.csv", fake_q_star())
    written += [tmp_path / "q.csv", tmp_path / "q.csv.sha256"]
    from analysis import plotting

    written += plotting.save_figure(plotting.empty_figure("x"), tmp_path / "figures", "empty")
    assert {oct(p.stat().st_mode & 0o777) for p in written} == {"0o644"}
    os.umask(0o077)
    assert results.atomic_write_text(tmp_path / "private.txt", "x").stat().st_mode & 0o777 == 0o600


# -- cached artefacts -----------------------------------------------------------------------------------

SMALL = datasets.DatasetSpec(grid_size=3, horizon=20, value_grid=11)


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_damaged_dataset_cache_is_regenerated_with_identical_numbers(tmp_path, capsys, how):
    fresh = datasets.load_or_generate(coh.VARIANTS[0], SMALL, tmp_path)
    [path] = tmp_path.glob("*.npz")
    corrupt(path, how)
    again = datasets.load_or_generate(coh.VARIANTS[0], SMALL, tmp_path)
    for name in datasets.FIELDS:
        np.testing.assert_array_equal(getattr(again, name), getattr(fresh, name))
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and str(path) in warning[0] and "regenerating" in warning[0]
    with np.load(path) as stored:  # the cache is whole again, with its checksum
        assert "sha256" in stored.files
    datasets.load_or_generate(coh.VARIANTS[0], SMALL, tmp_path)
    assert capsys.readouterr().err == ""


def fake_q_star() -> dict[str, np.ndarray]:
    """A Q* table on the paper's grid with values of the right form (0, +-gamma^(k-1))."""
    states, actions = qstar.paper_test_grid()
    depth = np.random.default_rng(0).integers(-30, 30, len(actions))
    q = np.where(depth == 0, 0.0, np.sign(depth) * coh.GAMMA ** (np.abs(depth) - 1.0))
    return {"position": states[:, 0], "velocity": states[:, 1], "action": actions, "q_star": q}


@pytest.mark.parametrize("how", [*CORRUPTIONS, "digit"])
def test_a_damaged_q_star_file_is_refused_in_one_line_naming_it(tmp_path, how):
    path = tmp_path / "1.000_4.000.csv"
    table = fake_q_star()
    qstar.write_q_star_csv(path, table)
    np.testing.assert_array_equal(qstar.read_q_star_csv(path), table["q_star"])
    if how == "digit":  # one digit of one value changed: still a number, but not this table's
        text = path.read_text()
        at = text.rindex(",") + 3
        path.write_text(text[:at] + str((int(text[at]) + 1) % 10) + text[at + 1:])
    else:
        corrupt(path, how)
    with pytest.raises(ConfigError, match="fails its checksum.*delete it to recompute") as refused:
        qstar.read_q_star_csv(path)
    assert str(path) in str(refused.value) and "\n" not in str(refused.value)
    path.with_name(path.name + ".sha256").unlink()  # without its checksum file, the values are still checked
    if how != "digit":
        with pytest.raises(ConfigError, match="delete it to recompute"):
            qstar.read_q_star_csv(path)


def test_a_q_star_file_of_an_older_version_is_read_with_a_warning(tmp_path, capsys):
    path = tmp_path / "q.csv"
    table = fake_q_star()
    pd.DataFrame(table).to_csv(path, index=False, float_format="%.17g")
    np.testing.assert_array_equal(qstar.read_q_star_csv(path), table["q_star"])
    assert "without a checksum" in capsys.readouterr().err


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_damaged_checkpoint_is_refused_in_one_line_naming_it(tmp_path, how):
    path = checkpoints.save_checkpoint(tmp_path / "seed0.pt", {"q.shared0_weight": torch.arange(64.0)},
                                       {"seed": 0})
    corrupt(path, how)
    with pytest.raises(ConfigError) as refused:
        checkpoints.load_checkpoint(path)
    assert str(path) in str(refused.value) and "\n" not in str(refused.value)


KERNEL_CHECK = textwrap.dedent("""
    import hashlib, os, sys
    from pathlib import Path
    import torch
    from mtrl_bench.algos import fqi_native
    from mtrl_bench.nets import NetSpec, SharedMultiTaskNet

    def numbers():
        fqi_native.library.cache_clear()
        net = SharedMultiTaskNet(NetSpec(n_tasks=1, obs_dim=2, n_actions=[2]), [0])
        gen = torch.Generator().manual_seed(0)
        states, actions = torch.rand(1, 64, 2, generator=gen), torch.randint(0, 2, (1, 64), generator=gen)
        step = fqi_native.NativeFitStep(net, states, actions, torch.ones(1, 64))
        loss, grads = step.loss_and_grads(dict(net.params), torch.rand(1, 1, 64, generator=gen))
        return [loss.tolist()] + [grads[k].tolist() for k in sorted(grads)]

    def damage(path, how):
        data = path.read_bytes()
        middle = len(data) // 2
        bad = {"truncate": data[:middle], "empty": b"", "flip": data[:middle] + bytes(4) + data[middle + 4:]}[how]
        tmp = path.with_name("damaged.tmp")
        tmp.write_bytes(bad)
        os.replace(tmp, path)

    reference = numbers()
    cache = Path(os.environ["MTRL_BENCH_CACHE"])
    for how in sys.argv[1:]:
        [library] = cache.glob("fqi_native-*.so")
        damage(library, how)
        assert numbers() == reference, how
        [library] = cache.glob("fqi_native-*.so")
        assert library.stem.endswith("-" + hashlib.sha256(library.read_bytes()).hexdigest()[:16]), how
        print("rebuilt", how)
""")


def test_a_damaged_compiled_kernel_is_rebuilt_never_loaded(tmp_path):
    from mtrl_bench.algos import fqi_native

    try:
        fqi_native._compiler()
    except fqi_native.NativeKernelUnavailable as err:
        pytest.skip(str(err))
    env = {**os.environ, "MTRL_BENCH_CACHE": str(tmp_path), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", KERNEL_CHECK, *CORRUPTIONS], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])  # -7: SIGBUS on a truncated library
    assert done.stdout.split() == ["rebuilt", "truncate", "rebuilt", "flip", "rebuilt", "empty"]
    warnings = [ln for ln in done.stderr.splitlines() if ln.startswith("mtrl-bench: warning:")]
    assert len(warnings) == 3 and all("fails its checksum" in ln for ln in warnings)


def test_fit_kernel_auto_falls_back_to_fused_when_the_library_cannot_load(monkeypatch, capsys):
    from mtrl_bench.algos import fqi_native
    from mtrl_bench.nets import NetSpec

    def unloadable(*args, **kwargs):
        raise OSError("invalid ELF header")

    fqi_native.library.cache_clear()
    fqi_native._warn_once.cache_clear()
    monkeypatch.setattr(fqi_native.ctypes, "CDLL", unloadable)
    try:
        with pytest.raises(fqi_native.NativeKernelUnavailable, match="cannot load the compiled kernel"):
            fqi_native.library()
        assert not fqi_native.available(NetSpec(n_tasks=1, obs_dim=2, n_actions=[2]), torch.device("cpu"),
                                        torch.float32)
    except fqi_native.NativeKernelUnavailable as err:  # no compiler here: nothing to load
        if "compiler" not in str(err):
            raise
    finally:
        fqi_native.library.cache_clear()
    assert "using the fused kernel" in capsys.readouterr().err


# -- results files --------------------------------------------------------------------------------------

def damage_results(path: Path, how: str) -> None:
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    if how == "provenance":
        path.write_text(lines[0][:40] + "\n" + "".join(lines[1:]))
    elif how == "non_numeric":
        path.write_text(text.replace(",1.25", ",1.2x5", 1))
    elif how == "garbage_row":
        path.write_text("".join(lines[:3]) + "@@@ garbage @@@\n" + "".join(lines[3:]))
    elif how == "mid_row":
        path.write_text(text[:-7])
    elif how == "no_provenance":
        path.write_text("".join(lines[1:]))
    elif how == "flip":
        path.write_text(text.replace(",2.25", ",2.35", 1))
    elif how == "count":
        path.write_text(text.replace('"rows": 4', '"rows": 5'))


RESULT_DAMAGE = ("provenance", "non_numeric", "garbage_row", "mid_row", "no_provenance", "flip", "count")


@pytest.mark.parametrize("how", RESULT_DAMAGE)
def test_every_reader_refuses_a_damaged_results_file_in_one_line(tmp_path, capsys, how):
    path = results.write_results(tmp_path / "run.csv", rows(), results.provenance({"k": 1}, "cpu", 0.0))
    assert results.read_results(path)[0]["value"].tolist() == [0.25, 1.25, 2.25, 3.25]
    damage_results(path, how)
    for read in (results.read_results, lambda p: aggregate.load_any([p])):
        with pytest.raises(ConfigError) as refused:
            read(path)
        assert str(path) in str(refused.value) and "\n" not in str(refused.value)
    # The workflow's aggregation and an analysis command: one error line, status 2, nothing written.
    for main, args in ((aggregate.main, ["--out", str(tmp_path / "all.csv")]),
                       (aggregate_tables_main(), ["--outdir", str(tmp_path / "tables")])):
        capsys.readouterr()
        assert analysis_cli.run(main, ["--runs", str(path), *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and str(path) in err[0]
    assert not (tmp_path / "all.csv").exists()


def aggregate_tables_main():
    from analysis import fqi_tables

    return fqi_tables.main


@pytest.mark.parametrize("how", ["garbage_row", "mid_row", "flip"])
def test_a_damaged_all_runs_table_is_refused_too(tmp_path, how):
    table = aggregate.load_runs([results.write_results(tmp_path / "run.csv", rows(), {"git_commit": "abc"})])
    path = aggregate.write_all_runs(table, tmp_path / "all_runs.csv")
    assert len(aggregate.read_all_runs(path)) == 4
    damage_results(path, how)
    with pytest.raises(ConfigError, match="all_runs.csv"):
        aggregate.load_any([path])


def test_results_files_of_older_versions_are_read_with_a_warning(tmp_path, capsys):
    path = tmp_path / "old.csv"
    path.write_text(results.PROVENANCE_PREFIX + '{"version": "0.1"}\n' + pd.DataFrame(rows()).to_csv(index=False))
    frame, prov = results.read_results(path)
    assert len(frame) == 4 and prov["version"] == "0.1"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "without a row count and checksum" in err[0] and str(path) in err[0]
    path.write_text(path.read_text()[:-12])  # an old file cut inside its last row: refused by its shape
    with pytest.raises(ConfigError, match="line 6"):
        results.read_results(path)


def test_the_stored_reference_still_reads_value_for_value():
    reference = pd.read_csv(REPO / "tests" / "reference" / "test_tiny_results.csv",
                            dtype={"variants": str, "task": str, "algorithm": str})
    assert list(reference.columns) == results.COLUMNS and np.isfinite(reference["value"]).all()


# -- the authors' files ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_set():
    return datasets.generate(coh.VARIANTS[0], SMALL)


def test_the_authors_own_file_names_are_read(tmp_path, small_set):
    (tmp_path / "dataset_1.000_4.000.pkl").write_bytes(pickle.dumps(authors_data.to_tuples(small_set)))
    read = authors_data.load_variant(tmp_path, coh.VARIANTS[0])
    np.testing.assert_array_equal(read.states, small_set.states)
    with pytest.raises(ConfigError, match=r"0.800_4.000.pkl does not exist, nor dataset_0.800_4.000.pkl.*"
                                          r"holds dataset_1.000_4.000.pkl"):
        authors_data.load_variant(tmp_path, coh.VARIANTS[4])
    (tmp_path / "1.000_4.000.pkl").write_bytes(b"")
    with pytest.raises(ConfigError, match="keep one file per variant"):
        authors_data.load_variant(tmp_path, coh.VARIANTS[0])


@pytest.mark.parametrize("field, value, message", [
    (0, np.array([0.1 + 1j, 0.0]), "complex"),
    (0, np.array([50.0, 0.0]), "outside the hill"),
    (2, 5.0, "reward 5 is not -1, 0 or 1"),
    (3, np.array([50.0, 0.0]), "further than one step"),
    (2, 1.0, "disagree with next_state"),
])
def test_impossible_values_in_an_authors_file_are_refused(tmp_path, small_set, field, value, message):
    items = authors_data.to_tuples(small_set)
    first = list(items[0])
    first[field] = value
    items[0] = tuple(first)
    path = tmp_path / "1.000_4.000.pkl"
    path.write_bytes(pickle.dumps(items))
    with pytest.raises(ConfigError, match=message):
        authors_data.read_transitions(path)


# -- options and variants that cannot work --------------------------------------------------------------

def test_a_cuda_graph_on_a_cpu_is_reported(monkeypatch, capsys, tmp_path):
    from mtrl_bench.experiments import fqi

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(fqi, "task_data", stop)
    with pytest.raises(Stop):
        fqi.run(fqi.Config(variants=("0",), fit_cuda_graph=True, iterations=1), [0], "cpu")
    err = capsys.readouterr().err
    assert "warning: fit_cuda_graph has no effect on cpu" in err


def test_an_unsolvable_variant_is_refused_at_once(tmp_path, capsys):
    started = time.monotonic()
    code = mtrl_main(["qstar", "--mass", "1", "--action", "0.5", "--out", str(tmp_path / "q.csv")])
    assert code == 2 and time.monotonic() - started < 10
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1.000_0.500" in err[0] and "force" in err[0]
    with pytest.raises(ConfigError, match="1.000_0.500"):  # the path of `run fqi --variants 1.000_0.500`
        CarOnHillFamily().truth(["1.000_0.500"], str(tmp_path / "qstar"))
    assert not (tmp_path / "qstar").exists() and time.monotonic() - started < 10
    for ok in (*coh.VARIANTS, coh.CarOnHillParams(action=3.0)):  # the paper's and the ablation's weakest
        qstar.check_solvable(ok)


def test_a_schema_error_is_one_short_message(tmp_path):
    import shutil

    shutil.copytree(REPO / "workflow", tmp_path / "workflow")
    (tmp_path / "bad.yaml").write_text("bogus_key: 1\n")
    done = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", "bad.yaml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode != 0 and len(out) <= 6, len(out)
    assert any("config error: top level: Additional properties are not allowed ('bogus_key'" in ln for ln in out)
