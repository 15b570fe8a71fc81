"""The bootstrap helper: intervals cover what they should and are reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from mtrec.measure.bootstrap import (
    bootstrap,
    paired_difference,
    resample_indices,
    unpaired_difference,
)


def test_interval_of_a_mean_covers_the_truth_and_is_reproducible() -> None:
    values = np.random.default_rng(0).normal(loc=3.0, scale=1.0, size=400)

    def mean(rows: np.ndarray) -> float:
        return float(values[rows].mean())

    first = bootstrap(mean, len(values), resamples=500, seed=7)
    second = bootstrap(mean, len(values), resamples=500, seed=7)
    assert first == second
    assert first.low is not None and first.high is not None and first.se is not None
    assert first.low < 3.0 < first.high
    assert first.low < first.estimate < first.high
    # the standard error of a mean of 400 unit-variance draws is 0.05
    assert 0.035 < first.se < 0.065


def test_undefined_resamples_are_dropped_and_counted() -> None:
    values = np.array([0.0] * 9 + [1.0])

    def needs_both(rows: np.ndarray) -> float | None:
        picked = values[rows]
        return float(picked.mean()) if 0 < picked.sum() < len(picked) else None

    interval = bootstrap(needs_both, len(values), resamples=200, seed=1)
    assert 0 < interval.resamples < 200


def test_stratified_resamples_keep_group_sizes() -> None:
    groups = np.array(["a"] * 3 + ["b"] * 7)
    rows = resample_indices(len(groups), 50, seed=3, strata=groups)
    assert rows.shape == (50, 10)
    for resample in rows:
        picked = groups[resample]
        assert (picked == "a").sum() == 3 and (picked == "b").sum() == 7


def test_no_resamples_gives_the_estimate_alone() -> None:
    interval = bootstrap(lambda rows: float(len(rows)), 5, resamples=0)
    assert interval.estimate == 5.0 and interval.as_list() is None
    assert not interval.excludes(0.0)


def test_paired_difference_sees_a_small_shift_that_row_noise_would_hide() -> None:
    rng = np.random.default_rng(0)
    difficulty = rng.normal(scale=5.0, size=300)  # per-row noise shared by both runs
    before = difficulty + rng.normal(scale=0.1, size=300)
    after = before + 0.05

    interval = paired_difference(
        lambda rows: float(before[rows].mean()), lambda rows: float(after[rows].mean()), 300
    )
    assert interval.estimate == pytest.approx(0.05)
    assert interval.low is not None and interval.low > 0  # excludes zero: a real change
    same = paired_difference(
        lambda rows: float(before[rows].mean()), lambda rows: float(before[rows].mean()), 300
    )
    assert same.as_list() == [0.0, 0.0]


def test_unpaired_difference_of_medians_separates_shifted_samples_only() -> None:
    rng = np.random.default_rng(1)
    fast = rng.lognormal(mean=0.0, sigma=0.2, size=40)
    slow = rng.lognormal(mean=0.5, sigma=0.2, size=25)  # lengths may differ
    shifted = unpaired_difference(fast, slow, resamples=500, seed=2)
    assert shifted.estimate == pytest.approx(float(np.median(slow) - np.median(fast)))
    assert shifted.low is not None and shifted.low > 0
    assert shifted == unpaired_difference(fast, slow, resamples=500, seed=2)
    noise = unpaired_difference(fast[:20], fast[20:], resamples=500, seed=2)
    assert not noise.excludes(0.0)


def test_clusters_bring_all_their_rows() -> None:
    from mtrec.measure.bootstrap import Clusters

    users = np.array(["b", "a", "b", "c", "b"])
    clusters = Clusters.of(users, len(users))
    assert clusters.count == 3 and clusters.rows == 5
    # drawing user "b" twice and "c" once: b's three rows weigh 2, c's row 1, a's row 0
    b, c = clusters.unit_of_row[0], clusters.unit_of_row[3]
    assert clusters.weights(np.array([b, b, c])).tolist() == [2.0, 0.0, 2.0, 1.0, 2.0]
    assert clusters.first_row()[b] == 0 and clusters.first_row()[c] == 3
    rows = Clusters.of(None, 4)  # no ids: every row is its own unit
    assert rows.count == 4 and rows.weights(np.array([1, 1, 3])).tolist() == [0, 2, 0, 1]


def test_a_cluster_bootstrap_is_wider_than_a_row_bootstrap_for_clustered_rows() -> None:
    """Ten rows per user sharing a user effect: resampling rows shrinks the interval by
    about sqrt(10)/sqrt(1 + 9 * icc) ~ 2.4 here; resampling users does not."""
    from mtrec.measure.bootstrap import Clusters

    rng = np.random.default_rng(0)
    user = np.repeat(np.arange(50), 10)
    values = rng.normal(0, 1, 50)[user] + rng.normal(0, 0.5, len(user))
    clusters = Clusters.of(user, len(user))

    def mean_of_users(units: np.ndarray) -> float:
        weights = clusters.weights(units)
        return float((weights * values).sum() / weights.sum())

    by_users = bootstrap(mean_of_users, clusters.count, resamples=400, seed=1)
    by_rows = bootstrap(lambda rows: float(values[rows].mean()), len(values), resamples=400)
    assert by_users.se is not None and by_rows.se is not None
    assert by_users.se > 2.0 * by_rows.se
    # the standard error of a mean of 50 independent user means (sd ~ 1.02) is ~0.14
    assert 0.1 < by_users.se < 0.19
