"""2-D Gaussian mixtures, the standard mode-collapse benchmarks (Unrolled GAN, VEEGAN, PacGAN)."""

import numpy as np

from jaxgan.data.base import Dataset, Split


def ring8_centres(radius: float = 2.0) -> np.ndarray:
  angles = 2 * np.pi * np.arange(8) / 8
  return np.stack([radius * np.cos(angles), radius * np.sin(angles)], -1).astype(np.float32)


def grid25_centres(spacing: float = 2.0) -> np.ndarray:
  ticks = spacing * (np.arange(5) - 2)
  return np.stack(np.meshgrid(ticks, ticks), -1).reshape(-1, 2).astype(np.float32)


def sample_mixture(centres: np.ndarray, std: float, n: int, seed: int) -> np.ndarray:
  rng = np.random.default_rng(seed)
  modes = rng.integers(0, len(centres), n)
  return (centres[modes] + std * rng.normal(size=(n, 2))).astype(np.float32)


def load_mixture(name: str, n_train: int = 100_000, n_eval: int = 10_000) -> Dataset:
  """'ring8': 8 modes on a circle of radius 2, std 0.02; 'grid25': a 5x5 grid, spacing 2, std 0.05."""
  centres, std = {"ring8": (ring8_centres(), 0.02), "grid25": (grid25_centres(), 0.05)}[name]
  splits = [Split(sample_mixture(centres, std, n, seed)) for n, seed in
            ((n_train, 0), (n_eval, 1), (n_eval, 2))]
  return Dataset(name, *splits, centres=centres, std=std)
