import numpy as np
import pytest

from eval.stats import (
    MIN_ITEMS_FOR_VERDICT,
    Estimate,
    bootstrap_mean,
    bootstrap_mean_of_means,
    paired_difference,
    verdict,
    wilson_interval,
)


def test_bootstrap_interval_contains_mean_and_narrows_with_n():
    rng = np.random.default_rng(0)
    small = bootstrap_mean(rng.normal(0.6, 0.2, 20))
    large = bootstrap_mean(rng.normal(0.6, 0.2, 2000))
    assert small.low <= small.mean <= small.high
    assert large.high - large.low < (small.high - small.low) / 3
    assert large.low < 0.6 < large.high


def test_bootstrap_ignores_nan_and_none_and_reports_n():
    estimate = bootstrap_mean([1.0, float("nan"), None, 0.0])
    assert estimate.n == 2
    assert estimate.mean == pytest.approx(0.5)


def test_bootstrap_edge_cases():
    assert bootstrap_mean([]).n == 0
    one = bootstrap_mean([0.7])
    assert (one.mean, one.low, one.high, one.n) == (0.7, 0.7, 0.7, 1)
    constant = bootstrap_mean([1.0] * 10)
    assert constant.low == constant.high == 1.0


def test_bootstrap_is_reproducible_with_a_seed():
    values = [0.1, 0.5, 0.9, 0.3, 0.7]
    assert bootstrap_mean(values, seed=1) == bootstrap_mean(values, seed=1)


def test_wilson_interval_known_value():
    # 8 of 10: Wilson 95 % interval is about [0.490, 0.943].
    estimate = wilson_interval(8, 10)
    assert estimate.mean == pytest.approx(0.8)
    assert estimate.low == pytest.approx(0.490, abs=1e-3)
    assert estimate.high == pytest.approx(0.943, abs=1e-3)
    assert wilson_interval(0, 5).low == 0.0
    assert wilson_interval(0, 0).n == 0


def test_mean_of_means_weights_groups_equally():
    estimate = bootstrap_mean_of_means([[1.0, 1.0, 1.0, 1.0], [0.0]])
    assert estimate.mean == pytest.approx(0.5)
    assert estimate.n == 5
    assert bootstrap_mean_of_means([[], []]).n == 0


def test_paired_difference_uses_only_questions_both_have():
    a = {"q1": 1.0, "q2": 0.5, "q3": None, "q4": 1.0}
    b = {"q1": 0.0, "q2": 0.5, "q3": 1.0, "q5": 0.0}
    difference = paired_difference(a, b)
    # Pairs: q1 (1 - 0 = 1), q2 (0.5 - 0.5 = 0); q3 has no A value, q4 and q5 no partner.
    assert difference.n == 2
    assert difference.mean == pytest.approx(0.5)
    assert 0.0 <= difference.low <= difference.high <= 1.0


def test_paired_difference_cancels_what_both_share():
    # B is A minus 0.1 on every question: the per-question differences are all 0.1,
    # so the interval has no width however much the questions differ.
    a = {f"q{i}": i / 20 for i in range(20)}
    b = {k: v - 0.1 for k, v in a.items()}
    difference = paired_difference(a, b)
    assert (difference.mean, difference.low, difference.high) == pytest.approx((0.1, 0.1, 0.1))


def test_verdict_in_words():
    n = MIN_ITEMS_FOR_VERDICT
    assert verdict(Estimate(0.3, 0.1, 0.5, n), True, "A", "B") == "A better (A higher than B)"
    assert verdict(Estimate(-0.3, -0.5, -0.1, n), True, "A", "B") == "B better (B higher than A)"
    # Lower is better (time): A higher means B better.
    assert verdict(Estimate(200.0, 100.0, 300.0, n), False, "A", "B") == "B better (A higher than B)"
    assert verdict(Estimate(0.3, 0.1, 0.5, n), None, "A", "B") == "A higher than B"
    assert verdict(Estimate(0.1, -0.1, 0.3, n), True, "A", "B") == "no verdict: the interval includes 0"
    assert verdict(Estimate(0.0, 0.0, 0.0, n), True, "A", "B") == "no difference on these questions"
    assert verdict(Estimate(0.5, 0.5, 0.5, n - 1), True, "A", "B").startswith("no verdict: too few paired questions")
    assert verdict(Estimate(float("nan"), float("nan"), float("nan"), 0), True, "A", "B").startswith("no verdict: no question")
