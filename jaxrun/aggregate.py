"""How sure a result over several runs is: the interquartile mean (IQM) and stratified bootstrap
confidence intervals of Agarwal et al. 2021 ("Deep reinforcement learning at the edge of the
statistical precipice"), computed by their ``rliable`` package. Both tools use it: DQN returns over
seeds, GAN metrics over seeds.

rliable draws its bootstrap indices from NumPy's global generator (its ``random_state`` argument
does not reach them), so :func:`_seeded` seeds that generator for the call and puts the caller's
state back: the same scores and seed give the same interval, and nothing else's stream moves.
rliable (and its arch, pandas and statsmodels) is imported on first use: 1.3 s that a run which
reports no interval does not pay.
"""

import contextlib

import numpy as np

REPS = 2000         # bootstrap replicates (rliable's examples use 2000 for figures, 50000 for tables)
CONFIDENCE = 0.95


@contextlib.contextmanager
def _seeded(seed: int):
  saved = np.random.get_state()
  np.random.seed(seed)
  try:
    yield
  finally:
    np.random.set_state(saved)


def iqm(scores) -> np.ndarray:
  """Interquartile mean over the first axis (runs), per remaining index: the mean of the middle
  50% of the runs (scipy's 25%-trimmed mean, as rliable's ``aggregate_iqm`` over one task).

  ``scipy.stats.trim_mean(scores, 0.25, axis=0)`` written out with the same partition, so its
  results are bitwise scipy's: importing scipy.stats took 0.5-0.9 s at the end of a 22 s DQN
  command that reports one seed."""
  x = np.asarray(scores, float)
  if x.size == 0:
    return np.float64(np.nan)
  runs = x.shape[0]
  low = int(0.25 * runs)
  return np.partition(x, (low, runs - low - 1), axis=0)[low:runs - low].mean(axis=0)


def _bootstrap(scores: np.ndarray, statistic, seed: int, reps: int) -> np.ndarray:
  """rliable's stratified bootstrap interval of ``statistic`` (runs resampled with replacement
  within each task): [2, ...] lower and upper bounds."""
  from rliable import library

  with _seeded(seed):
    _, intervals = library.get_interval_estimates({"x": scores}, statistic, reps=reps,
                                                  confidence_interval_size=CONFIDENCE)
  return intervals["x"]


def summary(scores, seed: int = 0, reps: int = REPS) -> dict:
  """IQM and mean of the per-run scores [runs] with their 95% stratified bootstrap intervals
  (``*_ci95``: [low, high]; left out for a single run, where resampling says nothing)."""
  x = np.asarray(scores, float).reshape(-1)
  out = {"runs": int(x.size), "iqm": float(iqm(x)), "mean": float(x.mean())}
  if x.size > 1:
    low, high = _bootstrap(x[:, None], lambda s: np.array([iqm(s.ravel()), s.mean()]), seed, reps)
    out["iqm_ci95"] = [float(low[0]), float(high[0])]
    out["mean_ci95"] = [float(low[1]), float(high[1])]
  return out


def curve_band(values, groups: int = 1, seed: int = 0, reps: int = REPS
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """For learning curves ``values`` [points, runs], the runs in ``groups`` consecutive blocks (a
  sweep's configurations): (IQM, lower, upper) [groups, points], the interval the bootstrap of
  each group's runs gives its IQM at each point (runs resampled within each group and point, as
  rliable draws its sample-efficiency curves; one bootstrap for all groups). A point where some
  run has no value (NaN) gets the IQM of the runs that have one and no interval; groups of a
  single run, no interval anywhere."""
  v = np.asarray(values, float)
  points, runs = v.shape
  per_group = v.reshape(points, groups, runs // groups)             # [points, groups, runs]
  centre = np.array([[iqm(r[np.isfinite(r)]) if np.isfinite(r).any() else np.nan for r in p]
                     for p in per_group]).T
  low, high = np.full((2, groups, points), np.nan)
  complete = np.isfinite(v).all(1)
  if runs // groups > 1 and complete.any():
    scores = per_group[complete].transpose(2, 1, 0)                  # [runs, groups (tasks), points]
    bounds = _bootstrap(scores, lambda s: iqm(s).ravel(), seed, reps)  # [2, groups * points]
    low[:, complete], high[:, complete] = bounds.reshape(2, groups, -1)
  return centre, low, high
