"""The aggregate statistics over runs (jaxrun.aggregate, on rliable)."""

import numpy as np
import pytest

from jaxrun import aggregate


def test_iqm_is_the_mean_of_the_middle_half_by_hand():
  # 8 runs: the IQM drops the 2 lowest and 2 highest.
  assert aggregate.iqm([100.0, 1, 2, 3, 4, 5, 6, -50]) == pytest.approx((2 + 3 + 4 + 5) / 4)
  # Per column over the runs' axis.
  np.testing.assert_allclose(aggregate.iqm(np.array([[0, 10], [1, 11], [2, 12], [9, 90]])), [1.5, 11.5])


def test_iqm_is_scipys_trimmed_mean_bitwise():
  import scipy.stats

  rng = np.random.default_rng(1)
  for runs in range(1, 14):
    for shape in ((runs,), (runs, 3), (runs, 2, 5)):
      x = rng.normal(size=shape) * 1e3
      np.testing.assert_array_equal(aggregate.iqm(x), scipy.stats.trim_mean(x, 0.25, axis=0))


def test_summary_intervals_hold_the_estimate_and_narrow_with_more_runs():
  rng = np.random.default_rng(0)
  few, many = rng.normal(5.0, 1.0, 8), rng.normal(5.0, 1.0, 128)
  s_few, s_many = aggregate.summary(few), aggregate.summary(many)
  for s in (s_few, s_many):
    for stat in ("iqm", "mean"):
      low, high = s[f"{stat}_ci95"]
      assert low < s[stat] < high
  width = lambda s: s["iqm_ci95"][1] - s["iqm_ci95"][0]  # noqa: E731
  assert width(s_many) < width(s_few) / 2  # ~ 1/sqrt(runs)
  # The bootstrap interval of the mean of 128 normal runs is close to mean +- 1.96 sd/sqrt(n).
  half = 1.96 * many.std() / np.sqrt(128)
  np.testing.assert_allclose(s_many["mean_ci95"], [many.mean() - half, many.mean() + half], atol=0.05)
  assert s_many["runs"] == 128


def test_summary_is_reproducible_and_leaves_numpys_global_stream_alone():
  scores = np.arange(10.0) ** 2
  np.random.seed(123)
  before = np.random.random()
  np.random.seed(123)
  a = aggregate.summary(scores, seed=1)
  assert np.random.random() == before  # the caller's stream did not move
  assert aggregate.summary(scores, seed=1) == a
  assert aggregate.summary(scores, seed=2)["iqm_ci95"] != a["iqm_ci95"]


def test_one_run_has_no_interval():
  assert aggregate.summary([3.0]) == {"runs": 1, "iqm": 3.0, "mean": 3.0}
  (centre,), (low,), (high,) = aggregate.curve_band(np.array([[1.0], [2.0]]))
  np.testing.assert_array_equal(centre, [1.0, 2.0])
  assert np.isnan(low).all() and np.isnan(high).all()


def test_curve_band_per_point_and_missing_values():
  rng = np.random.default_rng(1)
  values = rng.normal(np.arange(6.0)[:, None] * 10, 1.0, (6, 8))  # 6 points, 8 runs
  values[2, 3] = np.nan  # a run with no value at point 2
  (centre,), (low,), (high,) = aggregate.curve_band(values)
  finite = np.arange(6) != 2
  np.testing.assert_allclose(centre[finite], aggregate.iqm(values[finite].T))
  assert centre[2] == pytest.approx(aggregate.iqm(np.delete(values[2], 3)))
  assert np.isnan(low[2]) and np.isnan(high[2])
  assert np.all(low[finite] <= centre[finite]) and np.all(centre[finite] <= high[finite])
  assert np.all(high[finite] - low[finite] < 3.0)  # each point's own spread (sd 1), not the curve's


def test_curve_bands_of_groups_are_each_groups_own():
  """A sweep's configurations (groups of runs) in one bootstrap: each group's IQM and interval
  are its own runs', the same as the band of that group alone up to the bootstrap's noise."""
  rng = np.random.default_rng(2)
  a = rng.normal(0.0, 1.0, (5, 6))
  b = rng.normal(100.0, 10.0, (5, 6))
  centre, low, high = aggregate.curve_band(np.concatenate([a, b], 1), groups=2)
  assert centre.shape == low.shape == (2, 5)
  for g, runs in enumerate((a, b)):
    (c1,), (l1,), (h1,) = aggregate.curve_band(runs)
    np.testing.assert_allclose(centre[g], c1)
    spread = runs.std()
    np.testing.assert_allclose(low[g], l1, atol=0.5 * spread)
    np.testing.assert_allclose(high[g], h1, atol=0.5 * spread)
  assert np.all(high[0] < 10) and np.all(low[1] > 50)  # nothing of b in a's band, or of a in b's
