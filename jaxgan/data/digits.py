"""scikit-learn's bundled handwritten digits (1,797 8x8 images, 10 classes): no download."""

import numpy as np
from PIL import Image

from jaxgan.data.base import Dataset, Split, to_uint8

SIZES = (8, 16, 32, 64)


def load_digits(image_size: int = 16) -> Dataset:
  """Digits resized (bilinear) to ``image_size``, split 70/15/15 into train / validation / test by
  a fixed permutation (the same on every machine)."""
  from sklearn.datasets import load_digits as sk_load_digits

  if image_size not in SIZES:
    raise ValueError(f"digits are available at image sizes {SIZES}, got {image_size}.")
  bunch = sk_load_digits()
  images = bunch.images.astype(np.float32) / 16.0  # [N, 8, 8] in [0, 1]
  if image_size != 8:
    images = np.stack([
        np.asarray(Image.fromarray(im, mode="F").resize((image_size, image_size), Image.BILINEAR))
        for im in images])
  x = to_uint8(images)[..., None]
  y = bunch.target.astype(np.int32)
  order = np.random.default_rng(0).permutation(len(x))
  n_train, n_val = int(0.7 * len(x)), int(0.15 * len(x))
  parts = np.split(order, [n_train, n_train + n_val])
  train, val, test = (Split(x[p], y[p]) for p in parts)
  return Dataset("digits", train, val, test, num_classes=10)
