"""Which evaluated checkpoint a run keeps (tinyagent_ft.train.selection): the latest, unless the
best-scoring evaluation so far has a clear lead on the same validation sample."""

import json

import pytest

from benchmark_scripts import load_benchmark
from tinyagent_ft.train.selection import SELECTION_FILE, CheckpointSelection, Evaluation, sign_test_p


def evaluation(step: int, wrong: set[int], n: int = 50, sample: str | None = None) -> Evaluation:
    """An evaluation of n validation plans, right on all but the plans in ``wrong``."""
    successes = tuple(i not in wrong for i in range(n))
    return Evaluation(step, sum(successes) / n, successes, sample)


def test_the_sign_test_counts_the_plans_only_one_checkpoint_got_right():
    assert sign_test_p(1, 0) == 0.5 and sign_test_p(0, 0) == 1.0
    assert sign_test_p(5, 0) == 1 / 32 and sign_test_p(7, 1) == 9 / 256 and sign_test_p(0, 3) == 1.0


def test_a_later_checkpoint_one_plan_behind_is_kept():
    # The two-hour SmolLM2 run: step 500 planned 48 of 50 right, step 1,000 one fewer; on all 300
    # validation plans and on the test set step 1,000 was the better one.
    selection = CheckpointSelection()
    assert selection.keeps(evaluation(500, {1, 2}))
    assert selection.keeps(evaluation(1000, {1, 2, 3}))
    assert selection.peak.step == 500


def test_a_later_checkpoint_is_dropped_only_for_a_clear_lead_of_the_peak():
    selection = CheckpointSelection()
    assert selection.keeps(evaluation(500, {40, 41, 42}))
    assert not selection.keeps(evaluation(1000, {0, 1, 2, 40, 41, 42}))  # 3 plans to 0: p = 1/8
    assert selection.keeps(evaluation(1250, {0, 1, 40, 41, 42}))  # 2 to 0: p = 1/4, within the noise
    assert selection.keeps(evaluation(1500, {0, 1, 2, 3, 4, 5}))  # 6 to 3: p = 0.25
    assert not selection.keeps(evaluation(1750, {0, 1, 2, 3, 4, 41, 42}))  # 5 to 1: p = 0.11
    assert selection.peak.step == 500


def test_a_slow_decline_is_measured_against_the_peak_not_the_last_kept_checkpoint():
    selection = CheckpointSelection()
    assert selection.keeps(evaluation(250, set()))
    assert selection.keeps(evaluation(500, {0, 1}))  # 2 plans behind the peak: p = 1/4
    # 2 plans behind step 500 but 4 behind the peak (p = 1/16).
    assert not selection.keeps(evaluation(750, {0, 1, 2, 3}))


def test_an_equal_or_better_score_is_a_new_peak():
    selection = CheckpointSelection()
    selection.keeps(evaluation(10, {0, 1}))
    assert selection.keeps(evaluation(20, {2, 3})) and selection.peak.step == 20


def test_another_validation_sample_is_compared_by_score_alone():
    # A run resumed with another --eval-samples or validation split plans other records.
    selection = CheckpointSelection(evaluation(500, {40, 41}, sample="a"))
    assert selection.keeps(evaluation(1000, {0, 40, 41}, sample="a"))  # 1 plan to 0 on the same records
    assert not selection.keeps(evaluation(1250, {0, 40, 41}, sample="b"))  # the same outcomes, other records
    assert not selection.keeps(evaluation(1500, {0, 1, 2}, n=40, sample="b"))  # 0.925 against 0.96
    assert selection.keeps(evaluation(1750, {0}, n=40, sample="b")) and selection.peak.step == 1750  # 0.975


def test_the_selection_travels_with_a_checkpoint(tmp_path):
    assert CheckpointSelection.load(tmp_path).peak is None  # a checkpoint saved before selections were
    selection = CheckpointSelection()
    selection.keeps(evaluation(500, {1, 2}, sample="a"))
    selection.save(tmp_path)
    restored = CheckpointSelection.load(tmp_path)
    assert restored.peak == selection.peak and not restored.keeps(evaluation(750, set(range(2, 12)), sample="a"))
    (tmp_path / SELECTION_FILE).write_text('{"peak": {"step": 5}}')
    with pytest.raises(ValueError, match=f"{SELECTION_FILE}: not a checkpoint selection record"):
        CheckpointSelection.load(tmp_path)


def test_a_peak_known_by_score_alone_is_compared_by_score():
    selection = CheckpointSelection(Evaluation(100, 0.5, None))
    assert not selection.keeps(evaluation(200, set(range(26))))  # 0.48
    assert selection.keeps(evaluation(300, set(range(25)))) and selection.peak.step == 300


def write_eval(directory, successes: list[bool]):
    results = [{"id": f"q{i}", "success": s, "tool_set_match": s} for i, s in enumerate(successes)]
    directory.mkdir()
    (directory / "report.json").write_text(json.dumps({"summary": {}, "results": results}))
    return directory


def test_the_benchmark_measures_both_rules_on_the_pair_as_trained_and_reversed(tmp_path):
    benchmark = load_benchmark("checkpoint_selection")
    earlier = benchmark.read_outcomes(write_eval(tmp_path / "a", [i >= 10 for i in range(40)]))
    later = benchmark.read_outcomes(write_eval(tmp_path / "b", [True] * 40))
    report = benchmark.measure(earlier, later, sizes=[40, 100], draws=20, levels=[0.05], seed=0)
    assert report["paired"]["right_only_earlier"] == 0 and report["paired"]["right_only_later"] == 10
    shares = report["share_keeping_the_better_checkpoint"]
    # Every sample is the whole set here: the later checkpoint's 10-plan lead decides each way.
    for order in ("as_trained", "reversed"):
        assert shares[order]["40"] == {"best_score": 1.0, "latest_unless_clearly_worse_0.25": 1.0,
                                       "latest_unless_clearly_worse_0.05": 1.0}
    assert "100" in shares["as_trained"]  # a size above the split's takes the whole split
