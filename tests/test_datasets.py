"""Car-On-Hill datasets: the authors' kind of behaviour policy, held-out streams, caching, the authors' files."""

import dataclasses
import json
import pickle

import numpy as np
import pytest

from mtrl_bench import config as cfg
from mtrl_bench.errors import ConfigError
from mtrl_bench.tasks.car_on_hill import authors_data, behaviour, dataset_stats
from mtrl_bench.tasks.car_on_hill import dynamics as coh
from mtrl_bench.tasks.car_on_hill.datasets import (
    FIELDS,
    DatasetSpec,
    cache_path,
    generate,
    greedy_policy,
    held_out,
    load_or_generate,
)

GREEDY = DatasetSpec(policy="epsilon_greedy")  # the calibrated parameters are the field defaults


@pytest.fixture(scope="module")
def greedy_sets():
    return {index: generate(params, GREEDY) for index, params in enumerate(coh.VARIANTS)}


# -- the behaviour policy ------------------------------------------------------------------------

def test_dataset_statistics_fall_in_the_authors_ranges_on_every_variant(greedy_sets):
    # Every statistic in the authors' range on all 16 variants, except that a transition count may
    # miss it by < 5% on at most 3 variants: a count varies by ~3% (std) between dataset seeds.
    failures, near = {}, {}
    low, high = dataset_stats.AUTHORS_RANGES["transitions"]
    for index, data in greedy_sets.items():
        row = {"variant": index, **dataset_stats.episode_stats(data)}
        assert row["episodes"] == 17 * 17
        assert row["top_share"] + row["failure_share"] + row["truncated_share"] == pytest.approx(1.0)
        bad = dataset_stats.out_of_range(row)
        name = coh.VARIANTS[index].name
        if "transitions" in bad:
            bad.remove("transitions")
            near[name] = row["transitions"]
            if not 0.95 * low <= row["transitions"] <= 1.05 * high:
                bad.append("transitions")
        if bad:
            failures[name] = {key: row[key] for key in bad}
    assert not failures, f"outside the authors' ranges {dataset_stats.AUTHORS_RANGES}: {failures}"
    assert len(near) <= 3, f"transition counts outside {low}-{high}: {near}"


def test_greedy_sets_are_episodes_of_the_real_dynamics(greedy_sets):
    data = greedy_sets[0]
    params = coh.VARIANTS[0]
    nxt, reward, absorbing = coh.step(data.states, data.actions, params.mass, params.gravity, params.action)
    np.testing.assert_array_equal(nxt, data.next_states)
    np.testing.assert_array_equal(reward, data.rewards)
    np.testing.assert_array_equal(absorbing, data.absorbing)
    same = data.episode[1:] == data.episode[:-1]
    np.testing.assert_array_equal(data.next_states[:-1][same], data.states[1:][same])
    assert not data.absorbing[:-1][same].any()


def test_value_iteration_is_a_fixed_point_and_the_greedy_policy_climbs_the_hill():
    params = coh.VARIANTS[12]  # the hardest variant (a/m = 3.65)
    policy = behaviour.greedy_policy(params, 101)
    grid = policy.grid
    nodes = np.stack(np.meshgrid(grid.positions, grid.velocities, indexing="ij"), -1).reshape(-1, 2)
    backup = policy.act(nodes).q.max(axis=1)
    np.testing.assert_allclose(backup, grid.values.reshape(-1), atol=1e-8)
    assert np.all(np.abs(grid.values) <= 1.0) and grid.values.max() > 0.9
    state = np.array([coh.START_STATE])
    for steps in range(1, 60):  # noqa: B007 (read after the loop)
        look = policy.act(state)
        a = look.greedy[0]
        state = look.next_states[:, a]
        if look.absorbing[0, a]:
            break
    assert look.rewards[0, a] == 1.0 and steps <= 30


def test_perturbations_make_the_greedy_policy_differ_and_bias_favours_plus():
    params = coh.VARIANTS[0]
    states = np.random.default_rng(0).uniform([-1, -3], [1, 3], size=(500, 2))
    plain = behaviour.greedy_policy(params, 51).act(states).greedy
    noisy = behaviour.greedy_policy(params, 51, value_noise=0.05, noise_seed=1).act(states).greedy
    again = behaviour.greedy_policy(params, 51, value_noise=0.05, noise_seed=1).act(states).greedy
    biased = behaviour.greedy_policy(params, 51, plus_bias=0.2).act(states).greedy
    np.testing.assert_array_equal(noisy, again)
    assert 0 < np.mean(noisy != plain) < 0.3
    assert biased.mean() > plain.mean() and np.all(biased >= plain)
    with pytest.raises(ConfigError, match="at least 2 x 2"):
        behaviour.solve_values(params, 1, 5)


@pytest.mark.slow
def test_optimal_action_share_against_the_exact_q_star():
    # ~40 states with the exact solver (slow): the share is in the authors' range up to sampling noise.
    params = coh.VARIANTS[0]
    stats = dataset_stats.optimal_action_stats(params, generate(params, GREEDY), 40, seed=0)
    assert stats["differ_states"] >= 20
    assert 0.75 <= stats["optimal_share"] <= 0.99


# -- coin, seeds, held-out stream, cache ---------------------------------------------------------

def test_coin_policy_is_unchanged():
    # The i.i.d. coin of earlier releases (the regression reference uses it): 6,967 rows on variant 0.
    data = generate(coh.VARIANTS[0], dataclasses.replace(GREEDY, policy="coin"))
    assert len(data) == 6967 and int(data.actions.sum()) == 5362
    assert np.array_equal(np.unique(data.episode), np.arange(289))


def test_generation_is_reproducible_and_seeds_and_streams_differ(greedy_sets):
    params = coh.VARIANTS[0]
    again = generate(params, GREEDY)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(again, name), getattr(greedy_sets[0], name))
    other_seed = generate(params, dataclasses.replace(GREEDY, seed=1))
    held = generate(params, held_out(GREEDY))
    for data in (other_seed, held):
        assert len(data) != len(again) or not np.array_equal(data.actions, again.actions)
        # Same start states (first row of each episode), same behaviour policy: similar statistics.
        firsts = np.unique(data.episode, return_index=True)[1]
        np.testing.assert_array_equal(data.states[firsts], again.states[np.unique(again.episode, return_index=True)[1]])
        assert abs(len(data) - len(again)) < 0.15 * len(again)
    assert held_out(GREEDY).stream == "held_out" and held_out(GREEDY).seed == GREEDY.seed
    with pytest.raises(ConfigError, match="already the held-out stream"):
        held_out(held_out(GREEDY))


def test_held_out_coin_stream_is_independent_and_train_stream_is_not_moved():
    coin = DatasetSpec(policy="coin", grid_size=5)
    train, held = generate(coh.VARIANTS[3], coin), generate(coh.VARIANTS[3], held_out(coin))
    assert not (len(train) == len(held) and np.array_equal(train.actions, held.actions))


def test_cache_key_carries_every_parameter(tmp_path):
    params = coh.VARIANTS[4]
    spec = dataclasses.replace(GREEDY, grid_size=5)
    first = load_or_generate(params, spec, tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    for change in (dict(epsilon=0.3), dict(value_grid=21), dict(value_noise=0.1), dict(plus_bias=0.1),
                   dict(horizon=50), dict(seed=7), dict(stream="held_out"), dict(policy="coin"), dict(p_plus=0.5),
                   dict(value_variant="own" if spec.value_variant != "own" else "3")):
        other = dataclasses.replace(spec, **change)
        assert cache_path(tmp_path, params, other) != cache_path(tmp_path, params, spec), change
    load_or_generate(params, dataclasses.replace(spec, epsilon=0.3), tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    path = cache_path(tmp_path, params, spec)
    with np.load(path) as stored:
        meta = json.loads(str(stored["meta"]))
        assert meta["spec"] == dataclasses.asdict(spec) and meta["variant"] == dataclasses.asdict(params)
        arrays = {name: stored[name] for name in FIELDS}
    # A file whose parameters do not match is regenerated, not reused.
    meta["spec"]["epsilon"] = 0.9
    arrays["actions"] = np.zeros_like(arrays["actions"])
    np.savez(path, meta=json.dumps(meta, sort_keys=True), **arrays)
    reread = load_or_generate(params, spec, tmp_path)
    np.testing.assert_array_equal(reread.actions, first.actions)


@pytest.mark.parametrize("mapping, message", [
    ({"policy": "greedy"}, r"dataset.policy must be one of \['coin', 'epsilon_greedy'\]"),
    ({"epsilon": 1.5}, "dataset.epsilon must be <= 1"),
    ({"value_grid": 1}, "dataset.value_grid must be >= 2"),
    ({"value_noise": -0.1}, "dataset.value_noise must be >= 0"),
    ({"stream": "test"}, "dataset.stream must be one of"),
    ({"grid_size": 0}, "dataset.grid_size must be >= 1"),
    ({"epsilon": "lots"}, "dataset.epsilon must be a number"),
    ({"temperature": 1}, "unknown key"),
    ({"value_variant": "99"}, "unknown Car-On-Hill variant '99'"),
    ({"value_variant": "twelve"}, "unknown Car-On-Hill variant 'twelve'"),
])
def test_spec_is_config_vocabulary_with_bounds(mapping, message):
    with pytest.raises(ConfigError, match=message):
        cfg.build(DatasetSpec, mapping, where="dataset")
    assert cfg.build(DatasetSpec, {"policy": "epsilon_greedy", "epsilon": "0.2"}, where="dataset") == \
        dataclasses.replace(GREEDY, epsilon=0.2)
    assert all(f.metadata.get("help") for f in dataclasses.fields(DatasetSpec))
    assert DatasetSpec(value_variant="12") == DatasetSpec(value_variant="1.200_4.375")


def test_stats_table_marks_values_outside_the_authors_ranges():
    rows = dataset_stats.variant_table(dataclasses.replace(GREEDY, policy="coin"), [0])
    text = dataset_stats.markdown(rows)
    assert "**6,967**" in text and "authors (range)" in text and "1.000_4.000" in text
    assert {"transitions", "top_share", "failure_share"} <= set(dataset_stats.out_of_range(rows[0]))


def test_stats_command_prints_the_table_and_refuses_bad_flags(capsys):
    flags = ["--variants", "4", "--dataset.policy", "epsilon_greedy", "--dataset.grid-size", "5"]
    assert dataset_stats.main(flags) == 0
    out = capsys.readouterr().out
    assert "0.800_4.000" in out and "'policy': 'epsilon_greedy'" in out
    assert dataset_stats.main(["--variants", "16"]) == 2
    assert dataset_stats.main(["--dataset.epsilon", "2"]) == 2
    assert "dataset.epsilon must be <= 1" in capsys.readouterr().err


# -- the authors' files --------------------------------------------------------------------------

def test_stats_command_reads_an_authors_directory(tmp_path, capsys, greedy_sets):
    (tmp_path / "0.800_4.000.pkl").write_bytes(pickle.dumps(authors_data.to_tuples(greedy_sets[4])))
    assert dataset_stats.main(["--variants", "4", "--authors-dir", str(tmp_path)]) == 0
    row = dataset_stats.episode_stats(greedy_sets[4])
    assert f"| 4 | 0.800_4.000 | {row['transitions']:,.0f} |" in capsys.readouterr().out
    assert dataset_stats.main(["--variants", "0", "--authors-dir", str(tmp_path)]) == 2
    assert "1.000_4.000.pkl does not exist" in capsys.readouterr().err


def test_authors_file_round_trip_and_directory_layout(tmp_path, greedy_sets):
    data = greedy_sets[8]
    params = coh.VARIANTS[8]
    path = authors_data.variant_path(tmp_path, params)
    assert path.name == "1.000_4.500.pkl"
    path.write_bytes(pickle.dumps(authors_data.to_tuples(data)))
    read = authors_data.load_variant(tmp_path, params)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(read, name), getattr(data, name))
        assert getattr(read, name).dtype == getattr(data, name).dtype
    # numpy scalars, 1-element action arrays, plain lists and old protocols read the same.
    items = [(list(s), np.array([a]), np.float64(r), tuple(n), np.bool_(b), int(last))
             for s, a, r, n, b, last in authors_data.to_tuples(data)]
    for protocol in (0, 2, 5):
        path.write_bytes(pickle.dumps(items, protocol=protocol))
        np.testing.assert_array_equal(authors_data.read_transitions(path).episode, data.episode)


def _good_items():
    return [(np.array([-0.5, 0.0]), 1, 0.0, np.array([-0.45, 0.4]), False, False),
            (np.array([-0.45, 0.4]), 0, -1.0, np.array([-1.2, -0.3]), True, True),
            (np.array([0.9, 2.0]), 1, 0.0, np.array([0.95, 1.9]), False, True)]


class _Shell:
    def __reduce__(self):
        import os
        return (os.system, ("echo should-not-run",))


def _replace(index, position, value):
    items = _good_items()
    row = list(items[index])
    row[position] = value
    items[index] = tuple(row)
    return items


@pytest.mark.parametrize("payload, message", [
    ({"a": 1}, "must hold a list of transitions, got dict"),
    ([], "holds an empty list"),
    (_good_items()[:1] + [(1, 2, 3)], "transition 1 must be a tuple .* got length 3"),
    ([5.0], "transition 0 must be a tuple .* got float"),
    (_replace(0, 0, np.zeros(3)), "transition 0: state must hold 2 numbers"),
    (_replace(1, 3, "far"), "transition 1: next_state is not numeric"),
    (_replace(2, 0, np.array([np.nan, 0.0])), "transition 2: state is not finite"),
    (_replace(1, 2, np.inf), "transition 1: reward is not finite"),
    (_replace(0, 1, 2), "transition 0: action must be 0 or 1, got 2"),
    (_replace(0, 1, np.array([0, 1])), "transition 0: action must be one number, got 2"),
    (_replace(0, 4, 0.5), "transition 0: absorbing must be a boolean"),
    (_replace(2, 5, 3), "transition 2: last must be a boolean"),
    (_replace(1, 5, False), "transition 1 is absorbing but not marked last"),
    (_replace(2, 5, False), "final transition is not marked last"),
    ([_Shell()], "refers to .*system, which this reader does not load"),
])
def test_malformed_authors_files_get_one_line_errors(tmp_path, payload, message):
    path = tmp_path / "1.000_4.000.pkl"
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(ConfigError, match=message) as err:
        authors_data.read_transitions(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_missing_and_unreadable_authors_files(tmp_path):
    with pytest.raises(ConfigError, match="directory .* does not exist"):
        authors_data.load_variant(tmp_path / "nowhere", coh.VARIANTS[0])
    with pytest.raises(ConfigError, match=r"authors' dataset file .*1.000_4.000.pkl does not exist"):
        authors_data.load_variant(tmp_path, coh.VARIANTS[0])
    path = tmp_path / "broken.pkl"
    path.write_bytes(pickle.dumps(_good_items())[:40])
    with pytest.raises(ConfigError, match="is not a readable pickle"):
        authors_data.read_transitions(path)
    path.write_text("state,action\n")
    with pytest.raises(ConfigError, match="is not a readable pickle"):
        authors_data.read_transitions(path)


def test_greedy_policy_is_shared_by_both_streams_and_takes_values_of_the_value_variant():
    params = coh.VARIANTS[2]
    noisy = dataclasses.replace(GREEDY, value_noise=0.05, value_variant="1.200_4.375")
    a, b = greedy_policy(params, noisy), greedy_policy(params, held_out(dataclasses.replace(noisy, seed=5)))
    np.testing.assert_array_equal(a.grid.values, b.grid.values)
    # The values are the hardest variant's (whatever variant steps), the look-ahead the variant's own.
    hardest = greedy_policy(coh.VARIANTS[12], noisy)
    np.testing.assert_array_equal(a.grid.values, hardest.grid.values)
    own = greedy_policy(params, dataclasses.replace(noisy, value_variant="own"))
    assert not np.array_equal(own.grid.values, a.grid.values)
    look = a.act(np.array([[0.1, 0.5]]))
    nxt, _, _ = coh.step(np.array([[0.1, 0.5], [0.1, 0.5]]), np.array([0, 1]), params.mass, params.gravity,
                         params.action)
    np.testing.assert_array_equal(look.next_states[0], nxt)
