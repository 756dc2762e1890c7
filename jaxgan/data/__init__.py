"""Datasets. Offline defaults: ``digits`` (scikit-learn's bundled digits), ``ring8`` and ``grid25``
(2-D Gaussian mixtures), ``shapes`` (generated captioned images). Anything else: ``tfds:NAME``
through tensorflow-datasets and Grain; captioned images in Reed et al.'s layout: ``folder:ROOT``."""

from jaxgan.data.base import Dataset, Split
from jaxgan.data.digits import load_digits
from jaxgan.data.captions import load_folder
from jaxgan.data.mixtures import grid25_centres, load_mixture, ring8_centres
from jaxgan.data.shapes import load_shapes
from jaxgan.data.tfds import DatasetNotPreparedError, load_tfds

BUILTIN = ("digits", "ring8", "grid25", "shapes")


def load(name: str, image_size: int | None = None, data_dir: str | None = None,
         max_examples: int | None = None) -> Dataset:
  """Loads ``name``: 'digits', 'ring8', 'grid25', 'shapes', 'tfds:NAME' (e.g. tfds:mnist,
  tfds:cifar10) or 'folder:ROOT' (captioned images, Reed's CUB / Oxford-102 layout)."""
  if max_examples is not None and max_examples < 1:
    raise ValueError(f"max_examples must be >= 1, got {max_examples}.")
  if name == "digits":
    return load_digits(16 if image_size is None else image_size)
  if name in ("ring8", "grid25"):
    if image_size is not None:
      raise ValueError(f"{name} is a 2-D point dataset; --image-size does not apply.")
    return load_mixture(name)
  if name == "shapes":  # max_examples: images per class (default 60)
    return load_shapes(64 if image_size is None else image_size, per_class=60 if max_examples is None else max_examples)
  if name.startswith("folder:") and len(name) > 7:
    return load_folder(name[7:], 64 if image_size is None else image_size,
                       max_per_class=max_examples)
  if name.startswith("tfds:") and len(name) > 5:
    return load_tfds(name[5:], image_size, data_dir, max_examples)
  raise ValueError(f"unknown dataset {name!r}; use one of {BUILTIN}, tfds:NAME (e.g. tfds:mnist, "
                   "tfds:fashion_mnist, tfds:cifar10) or folder:ROOT (captioned images).")
