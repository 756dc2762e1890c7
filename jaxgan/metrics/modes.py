"""Mode coverage on 2-D mixtures, as in the Unrolled GAN / VEEGAN / PacGAN tables."""

import numpy as np


def mode_stats(samples: np.ndarray, centres: np.ndarray, std: float, min_count: int = 20) -> dict:
  """A sample is *high quality* when it lies within 3 std of its nearest mode centre; a mode is
  *covered* when at least ``min_count`` high-quality samples sit on it (PacGAN's rule: 20 of
  2,500 samples)."""
  samples = np.asarray(samples, np.float64)
  d = np.linalg.norm(samples[:, None, :] - centres[None, :, :], axis=-1)
  nearest, dist = d.argmin(1), d.min(1)
  good = dist < 3 * std
  counts = np.bincount(nearest[good], minlength=len(centres))
  return {"modes": int(np.sum(counts >= min_count)), "num_modes": int(len(centres)),
          "high_quality": float(good.mean())}
