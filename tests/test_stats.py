"""Statistics against hand-computed examples."""
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from onpolicy.utils.stats import (bootstrap_mean_band, iqm, mean_std, prob_mean_at_least, stratified_bootstrap_ci,
                                  welch_t_test_greater)


def test_iqm_hand_examples():
    assert iqm([1, 2, 3, 4, 5, 6, 7, 8]) == pytest.approx(4.5)  # cut 2 each side: mean(3, 4, 5, 6)
    assert iqm([100, 1, 2, 3, 10]) == pytest.approx(5.0)  # n=5 cuts 1 each side: mean(2, 3, 10)
    assert iqm([1, 2, 9]) == pytest.approx(4.0)  # n < 4 cuts nothing
    np.testing.assert_allclose(iqm(np.array([[1, 2, 3, 4, 5, 6, 7, 8], [8, 8, 0, 0, 1, 1, 2, 2]]), axis=1),
                               [4.5, 1.5])


def test_iqm_matches_scipy_trim_mean():
    x = np.random.default_rng(3).normal(size=23)
    assert iqm(x) == pytest.approx(scipy_stats.trim_mean(x, 0.25))


def test_bootstrap_ci_of_two_runs_is_hand_computable():
    # Resampling [0, 1] gives means 0, 0.5, 1 with probability 1/4, 1/2, 1/4: 0 and 1 both
    # have more than 2.5% mass, so the 95% percentile interval is exactly [0, 1].
    assert stratified_bootstrap_ci([[0.0, 1.0]], n_bootstrap=4000, seed=0) == (0.0, 1.0)
    assert stratified_bootstrap_ci({"task": [3.0, 3.0, 3.0]}) == (3.0, 3.0)


def test_bootstrap_resamples_within_each_task():
    # Every stratified replicate has four 0s and four 1s, whose IQM is (0 + 0 + 1 + 1) / 4:
    # the interval collapses. Pooling the runs before resampling would not.
    assert stratified_bootstrap_ci({"a": [0, 0, 0, 0], "b": [1, 1, 1, 1]}, seed=7) == (0.5, 0.5)


def test_bootstrap_ci_reproduces_a_plain_loop_on_a_fixed_seed():
    tasks = [np.array([1.0, 4.0, 2.0, 8.0, 5.0]), np.array([0.5, 0.2, 0.9])]
    rng = np.random.default_rng(11)
    draws = [t[rng.integers(0, t.size, size=(500, t.size))] for t in tasks]
    replicates = [iqm(np.concatenate([d[b] for d in draws])) for b in range(500)]
    expected = (np.percentile(replicates, 2.5), np.percentile(replicates, 97.5))
    assert stratified_bootstrap_ci(tasks, n_bootstrap=500, seed=11) == pytest.approx(expected)
    assert stratified_bootstrap_ci(tasks, n_bootstrap=500, seed=11) == stratified_bootstrap_ci(
        tasks, n_bootstrap=500, seed=11)
    low, high = expected
    assert 0.2 <= low < high <= 8.0


def test_bootstrap_rejects_empty_tasks():
    with pytest.raises(ValueError, match="non-empty"):
        stratified_bootstrap_ci([[1.0], []])


def test_mean_std_uses_sample_std():
    assert mean_std([1, 2, 3, 4]) == pytest.approx((2.5, math.sqrt(5 / 3)))
    mean, std = mean_std([7.0])
    assert mean == 7.0 and math.isnan(std)


def test_welch_p_value_against_hand_computation():
    a, b = [1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 1.0, 1.0]
    # means 2.5 and 0.5, sample variances 5/3 and 1/3, n = 4 each
    se2_a, se2_b = (5 / 3) / 4, (1 / 3) / 4
    t = (2.5 - 0.5) / math.sqrt(se2_a + se2_b)  # 2 / sqrt(0.5)
    df = (se2_a + se2_b) ** 2 / (se2_a ** 2 / 3 + se2_b ** 2 / 3)  # Welch–Satterthwaite, ≈ 4.154
    assert t == pytest.approx(2.828427, rel=1e-6) and df == pytest.approx(4.153846, rel=1e-6)
    p = welch_t_test_greater(a, b)
    assert p == pytest.approx(scipy_stats.t.sf(t, df), rel=1e-9)
    assert p == pytest.approx(0.0227, abs=5e-4)
    assert welch_t_test_greater(b, a) == pytest.approx(1 - p, rel=1e-9)  # one-sided: the other direction


def test_welch_undefined_cases_are_nan():
    assert math.isnan(welch_t_test_greater([1.0], [0.0, 1.0]))
    assert math.isnan(welch_t_test_greater([1.0, 1.0], [0.0, 0.0]))


def test_bootstrap_mean_band():
    # Seeds 0 and 1 at the first point: replicate means are 0, 0.5, 1 with probability 1/4, 1/2, 1/4,
    # so the 2.5/97.5 percentiles are the seeds' own values (a t-band would reach -5.9 and 6.9).
    values = np.array([[0.0, 1.0], [1.0, 1.0]])
    mean, low, high = bootstrap_mean_band(values)
    np.testing.assert_allclose(mean, [0.5, 1.0])
    np.testing.assert_allclose(low, [0.0, 1.0])
    np.testing.assert_allclose(high, [1.0, 1.0])
    rng = np.random.default_rng(3)
    wins = rng.integers(0, 2, size=(3, 50)).astype(float)
    mean, low, high = bootstrap_mean_band(wins, seed=7)
    assert np.all((wins.min(0) <= low) & (low <= mean) & (mean <= high) & (high <= wins.max(0)))
    np.testing.assert_array_equal(bootstrap_mean_band(wins, seed=7)[1], low)  # fixed seed: same band
    mean, low, high = bootstrap_mean_band(values[:1])
    np.testing.assert_allclose(low, mean)
    np.testing.assert_allclose(high, mean)
    with pytest.raises(ValueError, match=r"shape \(0,\)"):
        bootstrap_mean_band(np.array([]))
    with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\), got 95"):
        bootstrap_mean_band(values, confidence=95)


def test_rerun_chance_of_not_being_below():
    assert prob_mean_at_least([5.0, 6.0], [1.0, 2.0]) == 1.0 and prob_mean_at_least([1.0, 2.0], [5.0, 6.0]) == 0.0
    # one seed of two trapped (-1) or not (9), the same flip for both methods: a rerun is a coin flip plus the ties
    flips = [-1.0, 9.0]
    chance = prob_mean_at_least(flips, flips, n_bootstrap=100_000)
    assert chance == pytest.approx(0.5 + 6 / 16 / 2, abs=0.01)  # P(tie) = 6/16 counts as "at least"
    assert prob_mean_at_least([3.0], [3.0]) == 1.0  # a tie is "not below"
    assert np.isnan(prob_mean_at_least([], [1.0]))
    # repeatable: a fixed seed
    assert prob_mean_at_least([1.0, 3.0, 2.0], [2.0, 2.5]) == prob_mean_at_least([1.0, 3.0, 2.0], [2.0, 2.5])
