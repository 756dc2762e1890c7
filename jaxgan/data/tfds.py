"""Datasets from tensorflow-datasets, read through ``tfds.data_source`` (array_record, random
access, no TensorFlow needed to read) and a Grain pipeline that decodes, crops and resizes.

The whole split is loaded into memory as uint8 (MNIST: 47 MB; CIFAR-10: 150 MB) so that
batches are drawn on the device inside the jitted loop; ``max_examples`` caps large sets.
"""

import numpy as np
from PIL import Image

from jaxgan.data.base import Dataset, Split
from jaxrun.errors import NotPreparedError

PREPARE_HINT = (
    "Prepare it once, on a machine with network access, in the array_record format that "
    "tfds.data_source reads:\n"
    "    pip install tensorflow  # tfds needs it to *build* datasets, not to read them\n"
    "    tfds build {name} --file_format=array_record{data_dir_flag}\n"
    "then pass the same --data-dir here (default: ~/tensorflow_datasets).")


class DatasetNotPreparedError(NotPreparedError):
  pass


def _open(tfds, name: str, split: str, data_dir: str | None):
  try:
    return tfds.data_source(name, split=split, data_dir=data_dir, download=False)
  except Exception as e:  # tfds raises several types (NotImplementedError, AssertionError, ...)
    flag = f" --data_dir={data_dir}" if data_dir else ""
    raise DatasetNotPreparedError(
        f"tfds dataset {name!r} (split {split!r}) is not prepared in array_record form here "
        f"({type(e).__name__}: {str(e).splitlines()[0]}).\n"
        + PREPARE_HINT.format(name=name, data_dir_flag=flag)) from None


def _square_resize(image: np.ndarray, size: int | None) -> np.ndarray:
  h, w = image.shape[:2]
  if h != w:  # centre crop to a square
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    image = image[top:top + s, left:left + s]
  if size is None or image.shape[0] == size:
    return image
  channels = image.shape[2]
  pil = Image.fromarray(image[..., 0] if channels == 1 else image)
  out = np.asarray(pil.resize((size, size), Image.BILINEAR))
  return out.reshape(size, size, channels)


def _read(source, image_size: int | None, has_label: bool, max_examples: int | None) -> Split:
  import grain

  n = len(source) if max_examples is None else min(len(source), max_examples)
  ds = grain.MapDataset.source(source)[:n].map(
      lambda ex: (_square_resize(np.asarray(ex["image"]), image_size),
                  np.int32(ex["label"]) if has_label else np.int32(0)))
  xs, ys = zip(*ds) if n else ((), ())
  return Split(np.stack(xs).astype(np.uint8), np.asarray(ys, np.int32) if has_label else None)


def load_tfds(name: str, image_size: int | None = None, data_dir: str | None = None,
              max_examples: int | None = None) -> Dataset:
  import tensorflow_datasets as tfds

  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    raise ValueError(f"tfds has no dataset {name!r}; see `tfds.list_builders()` for the names.") from None
  features = builder.info.features
  if "image" not in features:
    raise ValueError(f"tfds dataset {name!r} has no 'image' feature; jaxgan trains on image datasets.")
  has_label = "label" in features and hasattr(features["label"], "num_classes")
  splits = set(builder.info.splits) or {"train", "test"}  # (mocked datasets list no splits)
  if "train" not in splits:
    raise ValueError(f"tfds dataset {name!r} has no 'train' split (it has {sorted(splits)}).")
  if "validation" in splits:
    train_split, val_split = "train", "validation"
  else:  # hold out the last 10% of train, as Goodfellow held out MNIST's last 10k
    train_split, val_split = "train[:90%]", "train[90%:]"
  test_split = "test" if "test" in splits else val_split
  read = lambda split: _read(_open(tfds, name, split, data_dir), image_size, has_label, max_examples)
  train, val, test = read(train_split), read(val_split), read(test_split)
  num_classes = features["label"].num_classes if has_label else 0
  return Dataset(f"tfds:{name}", train, val, test, num_classes=num_classes)
