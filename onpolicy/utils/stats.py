"""Statistics for reporting results over seeds.

Scores are one number per run (seed), e.g. the mean of a run's last K evaluations.
Interval estimates follow Agarwal et al. 2021, "Deep RL at the Edge of the
Statistical Precipice" (the `rliable` library): the interquartile mean (IQM) as the
point estimate and a stratified bootstrap for its 95% confidence interval.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from scipy import stats as scipy_stats


def iqm(scores, axis: int = -1) -> np.ndarray | float:
    """Interquartile mean: the mean of the middle 50% of the scores along `axis`.

    As in rliable (`scipy.stats.trim_mean(x, 0.25)`), floor(n / 4) scores are cut
    from each end, so n = 1..3 cut nothing and IQM equals the mean.
    """
    sorted_scores = np.sort(np.asarray(scores, dtype=np.float64), axis=axis)
    n = sorted_scores.shape[axis]
    if n == 0:
        raise ValueError("iqm of an empty set of scores")
    cut = n // 4
    middle = np.take(sorted_scores, np.arange(cut, n - cut), axis=axis)
    return middle.mean(axis=axis)


def stratified_bootstrap_ci(scores_per_task: Mapping[str, Sequence[float]] | Sequence[Sequence[float]],
                            statistic=iqm, n_bootstrap: int = 2000, confidence: float = 0.95,
                            seed: int = 0) -> tuple[float, float]:
    """Percentile confidence interval of `statistic` by the rliable stratified bootstrap.

    Each bootstrap replicate resamples the runs of every task with replacement,
    *within* that task (the stratum), so every task keeps its number of runs; the
    replicate's statistic is computed on the pooled resampled scores of all tasks
    (for IQM across tasks, scores must already be normalized to a common scale).
    With one task this is the ordinary bootstrap over seeds. The interval is the
    (1 - confidence) / 2 and (1 + confidence) / 2 percentiles of the replicates;
    `seed` makes it reproducible.

    scores_per_task: {task: (n_runs_task,)} or a list of such arrays; tasks may
    have different numbers of runs. `statistic(x, axis=-1)` reduces (B, n_total).
    """
    tasks = list(scores_per_task.values()) if isinstance(scores_per_task, Mapping) else list(scores_per_task)
    tasks = [np.asarray(t, dtype=np.float64) for t in tasks]
    if not tasks or any(t.ndim != 1 or t.size == 0 for t in tasks):
        raise ValueError(f"need at least one task with a 1-D, non-empty array of run scores, got shapes "
                         f"{[t.shape for t in tasks]}")
    rng = np.random.default_rng(seed)
    # (B, n_task) per task, concatenated to (B, n_total): one row per bootstrap replicate.
    resampled = np.concatenate([t[rng.integers(0, t.size, size=(n_bootstrap, t.size))] for t in tasks], axis=1)
    low, high = percentile_interval(statistic(resampled, axis=-1), confidence)
    return float(low), float(high)


def percentile_interval(replicates: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """The (1 - confidence) / 2 and (1 + confidence) / 2 percentiles of bootstrap replicates (B, ...)
    over their first axis."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail], axis=0)
    return low, high


def mean_std(scores) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1, as in the t-test); std is NaN for one run."""
    x = np.asarray(scores, dtype=np.float64)
    if x.size == 0:
        raise ValueError("mean_std of an empty set of scores")
    return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else float("nan")


def welch_t_test_greater(candidate, baseline) -> float:
    """One-sided Welch t-test p-value for mean(candidate) > mean(baseline).

    Unequal variances (Welch–Satterthwaite degrees of freedom). NaN when either
    side has fewer than two runs, or both have zero variance (the test is undefined).
    """
    a = np.asarray(candidate, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if a.size < 2 or b.size < 2 or (a.var() == 0 and b.var() == 0):
        return float("nan")
    return float(scipy_stats.ttest_ind(a, b, equal_var=False, alternative="greater").pvalue)


def prob_mean_at_least(candidate, baseline, n_bootstrap: int = 20_000, seed: int = 0) -> float:
    """Chance that a rerun ends with mean(candidate) >= mean(baseline): each side redrawn with as many seeds as
    it has, from its own per-seed scores (a bootstrap of the comparison itself, not of either mean).

    Where a per-run coin flip dominates the scores (predator-prey's keep-away trap costs a seed ~10), two methods
    with the same flip rate give about 0.5 whatever their other seeds do: "not below" is then decided by the draw.
    NaN when either side is empty.
    """
    a = np.asarray(candidate, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    rerun_a = rng.choice(a, size=(n_bootstrap, a.size)).mean(axis=1)
    rerun_b = rng.choice(b, size=(n_bootstrap, b.size)).mean(axis=1)
    return float((rerun_a >= rerun_b).mean())


def bootstrap_mean_band(values: np.ndarray, n_bootstrap: int = 2000, confidence: float = 0.95,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over seeds and its percentile-bootstrap confidence band, point by point.

    values: (S, G) — S seeds, G grid points. Each replicate resamples whole seeds (curves) with
    replacement. Unlike a Student-t band, the band never leaves the range the seeds span (a win
    rate stays in [0, 1] even with 2 seeds), and it is the percentile bootstrap the tables' CIs use.
    Returns (mean, low, high), each (G,); with one seed the band collapses onto the mean.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"values must be a non-empty (seeds, grid points) array, got shape {values.shape}")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, values.shape[0], size=(n_bootstrap, values.shape[0]))
    low, high = percentile_interval(values[picks].mean(axis=1), confidence)  # replicates (B, G)
    return values.mean(axis=0), low, high
