"""The image-quality measures of next-frame prediction (Mathieu, Couprie & LeCun 2016, Section 4),
on frames in [0, 1] ([N, H, W, C]; one value per frame), over whole frames or over the moving
pixels a mask [N, H, W] marks (a proper mean over those pixels; NaN for a frame without any).

- PSNR = 10 log10(max^2 / MSE). Whole frames: dm-pix's ``psnr``; masked: the same over the mask.
- SSIM (Wang et al. 2004): dm-pix's ``ssim`` map (11 x 11 Gaussian window, sigma 1.5, K1 0.01,
  K2 0.03, "valid" filtering: the map covers the pixels 5 or more from the border), averaged over
  the channels and over the frame or the mask's pixels inside the map.
- Sharpness difference = 10 log10(max^2 / mean |(g_i Y + g_j Y) - (g_i Yhat + g_j Yhat)|), with
  g_i Y = |Y[i, j] - Y[i - 1, j]| and g_j Y = |Y[i, j] - Y[i, j - 1]| (pixels with both
  neighbours), averaged over the channels.

The ``official_*`` functions are what the official evaluation script computes instead (see
``official_metrics``).
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.losses import image_gradients

SSIM_BORDER = 5  # (11 - 1) / 2: the pixels "valid" filtering leaves out on each side


def _masked_mean(values: jax.Array, mask: jax.Array | None) -> jax.Array:
  """Mean over [N, H, W] per frame, over ``mask``'s pixels when given (NaN where it is empty)."""
  if mask is None:
    return jnp.mean(values, axis=(1, 2))
  m = mask.astype(values.dtype)
  count = jnp.sum(m, axis=(1, 2))
  return jnp.where(count > 0, jnp.sum(values * m, axis=(1, 2)) / jnp.maximum(count, 1), jnp.nan)


def psnr(predictions: jax.Array, targets: jax.Array, mask: jax.Array | None = None,
         max_val: float = 1.0) -> jax.Array:
  """Peak signal-to-noise ratio per frame (dB)."""
  if mask is None:
    import dm_pix

    return dm_pix.psnr(predictions / max_val, targets / max_val)
  mse = _masked_mean(jnp.mean(jnp.square(predictions - targets), -1), mask)
  return 10.0 * jnp.log10(max_val ** 2 / mse)


def ssim(predictions: jax.Array, targets: jax.Array, mask: jax.Array | None = None,
         max_val: float = 1.0) -> jax.Array:
  """Structural similarity per frame."""
  import dm_pix

  index = jnp.mean(dm_pix.ssim(predictions, targets, max_val=max_val, return_map=True), -1)
  if mask is not None:
    b = SSIM_BORDER
    mask = mask[:, b:mask.shape[1] - b, b:mask.shape[2] - b]
  return _masked_mean(index, mask)


def _gradient_sum(images: jax.Array) -> jax.Array:
  """g_i + g_j at the pixels with an upper and a left neighbour: [N, H-1, W-1, C]."""
  gi, gj = image_gradients(images)
  return gi[:, :, 1:] + gj[:, 1:, :]


def sharpness_difference(predictions: jax.Array, targets: jax.Array,
                         mask: jax.Array | None = None, max_val: float = 1.0) -> jax.Array:
  """The paper's sharpness difference per frame (dB): higher is closer in sharpness."""
  d = jnp.mean(jnp.abs(_gradient_sum(targets) - _gradient_sum(predictions)), -1)
  if mask is not None:
    mask = mask[:, 1:, 1:]
  return 10.0 * jnp.log10(max_val ** 2 / _masked_mean(d, mask))


METRICS = {"psnr": psnr, "ssim": ssim, "sharpness": sharpness_difference}


@jax.jit
def frame_metrics(predictions: jax.Array, targets: jax.Array, mask: jax.Array) -> dict:
  """{metric: {'moving': [N], 'whole': [N]}} for one predicted frame of N sequences."""
  return {name: {"moving": fn(predictions, targets, mask), "whole": fn(predictions, targets)}
          for name, fn in METRICS.items()}


def summarise(values: np.ndarray, key: int = 0, resamples: int = 1000) -> dict:
  """{'mean', 'low', 'high'}: the mean over the test sequences (NaNs, frames without moving
  pixels, left out) and its 95% bootstrap interval."""
  values = np.asarray(values, np.float64)
  values = values[np.isfinite(values)]
  if len(values) == 0:
    return {"mean": None, "low": None, "high": None}
  rng = np.random.default_rng(key)
  means = values[rng.integers(0, len(values), (resamples, len(values)))].mean(1)
  low, high = np.percentile(means, [2.5, 97.5])
  return {"mean": float(values.mean()), "low": float(low), "high": float(high)}


def paired_difference(a: np.ndarray, b: np.ndarray, key: int = 0, resamples: int = 1000) -> dict:
  """The mean of a - b over the sequences where both are defined, with its 95% bootstrap interval
  (the test sequences resampled together, so the interval is that of the paired difference)."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  ok = np.isfinite(a) & np.isfinite(b)
  return summarise(a[ok] - b[ok], key, resamples)


# ---- the official evaluation script (test-frame-prediction-on-ucf-rec_gdl.lua) --------------------
# It takes frames in [-1, 1], sets the static pixels of both frames to -1 (so they count in every
# mean with zero error), and leaves a frame out of all three averages unless its PSNR < 50.

_EPS = 1e-4


def _official_db(error: jax.Array) -> jax.Array:
  return 10.0 * jnp.log10(255.0 ** 2 / jnp.where(error > _EPS, error, _EPS))


def official_psnr(predictions: jax.Array, targets: jax.Array) -> jax.Array:
  """image_error_measures.lua's PSNR of [-1, 1] frames: 128^2 * MSE against a peak of 255."""
  return _official_db(128.0 * 128.0 * jnp.mean(jnp.square(predictions - targets), axis=(1, 2, 3)))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> jax.Array:
  r = jnp.arange(size) - (size - 1) / 2
  g = jnp.exp(-r * r / (2 * sigma * sigma))
  w = jnp.outer(g, g)
  return w / jnp.sum(w)


def official_ssim(predictions: jax.Array, targets: jax.Array) -> jax.Array:
  """image_error_measures.lua's SSIM of [-1, 1] frames: luma of RGB (rgb2y), in [0, 255], the
  11 x 11 Gaussian window (sigma 1.5) as a zero-padded 'full' convolution (the map is 10 px
  larger than the frame, its border dragged towards the constants), L = 255, the map's mean."""
  def prepare(x):
    if x.shape[-1] > 2:
      x = x[..., :1] * 0.299 + x[..., 1:2] * 0.587 + x[..., 2:3] * 0.114
    return (x[..., :1] + 1.0) / 2.0 * 255.0

  a, b = prepare(predictions), prepare(targets)
  w = _gaussian_window()[:, :, None, None]
  blur = lambda x: jax.lax.conv_general_dilated(x, w, (1, 1), ((10, 10), (10, 10)),
                                                dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                                precision=jax.lax.Precision.HIGHEST)
  c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
  mu1, mu2 = blur(a), blur(b)
  s1, s2, s12 = blur(a * a) - mu1 ** 2, blur(b * b) - mu2 ** 2, blur(a * b) - mu1 * mu2
  index = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (s1 + s2 + c2))
  return jnp.mean(index, axis=(1, 2, 3))


def official_sharpness(predictions: jax.Array, targets: jax.Array) -> jax.Array:
  """image_error_measures.lua's ``computel1difference``: | |g_x Yhat| - |g_x Y| | + the same along
  y, summed over the pixels 2 .. H-1, 2 .. W-1 and divided by all C * H * W, times 128^2, against
  a peak of 255 (not the paper's formula, which compares the sums g_i + g_j)."""
  def grads(x):
    gy, gx = image_gradients(x)
    return gx[:, 1:-1, :-1], gy[:, :-1, 1:-1]

  (px, py), (tx, ty) = grads(predictions), grads(targets)
  total = jnp.sum(jnp.abs(px - tx), axis=(1, 2, 3)) + jnp.sum(jnp.abs(py - ty), axis=(1, 2, 3))
  n = predictions.shape[1] * predictions.shape[2] * predictions.shape[3]
  return _official_db(128.0 * 128.0 * total / n)


@jax.jit
def official_metrics(predictions: jax.Array, targets: jax.Array, mask: jax.Array) -> dict:
  """{metric: [N]} as the official script computes them on moving areas, from [-1, 1] frames:
  static pixels set to -1 in both, NaN for a frame it drops (PSNR >= 50)."""
  m = mask[..., None]
  p, t = jnp.where(m, predictions, -1.0), jnp.where(m, targets, -1.0)
  out = {"psnr": official_psnr(p, t), "ssim": official_ssim(p, t),
         "sharpness": official_sharpness(p, t)}
  kept = out["psnr"] < 50.0
  return {k: jnp.where(kept, v, jnp.nan) for k, v in out.items()}
