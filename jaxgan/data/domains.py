"""Two domains for domain adaptation: a labelled source and a target whose training images are
used without their labels.

``digits-m`` (offline) is made the way Ganin et al. 2016 made MNIST-M from MNIST: every channel of
a target image is |background - digit| with the digit binarised at 0.5, where the background is a
random crop of a colour image. BSDS500, the photos MNIST-M cropped, cannot be downloaded here, so
the colour images are procedural (gradients, value noise, stripes, checkers, blotches), drawn from
a fixed seed: the same images on every machine. Source and target train on disjoint digits (the
domains are unpaired): of scikit-learn's 1,257 training digits, the 629 even-numbered go to the
source (grey, tiled to RGB) and the 628 odd-numbered to the target, each rendered on 8 random
crops (5,024 images: a target domain is its variety of backgrounds, and one render of 628 digits
left the target-only classifier at 64% on the test split, 8 at 90%). The target's test split is
the 540 digits held out of both (the digits' validation and test splits, rendered once); nothing
is tuned on it, so ``validation`` is the same split.

Real data: ``--source tfds:mnist`` and ``--target folder:ROOT`` in the layout MNIST-M is
distributed in (``mnist_m_train/``, ``mnist_m_test/``, ``mnist_m_{train,test}_labels.txt`` with
lines ``FILE LABEL``). Both domains are brought to the same size and the target's channels.
"""

import dataclasses
import os

import numpy as np
from PIL import Image

from jaxgan.data.base import Dataset, Split, to_uint8

SOURCES = ("digits", "tfds:NAME (e.g. tfds:mnist)")
TARGETS = ("digits-m", "folder:ROOT (MNIST-M's layout)")
BACKGROUND_KINDS = ("gradient", "value_noise", "stripes", "checkers", "blotches")
TARGET_RENDERS = 8  # digits-m renders each of its training digits on this many backgrounds
MNIST_M_LAYOUT = ("mnist_m_train/", "mnist_m_test/", "mnist_m_train_labels.txt",
                  "mnist_m_test_labels.txt")


@dataclasses.dataclass(frozen=True)
class Domains:
  source: Dataset   # labelled source images in the target's channels
  target: Dataset   # target images; the train labels are used only by the target-only reference

  @property
  def data_shape(self) -> tuple[int, int, int]:
    return self.target.data_shape

  @property
  def num_classes(self) -> int:
    return self.target.num_classes


# ---- digits-m -----------------------------------------------------------------------------------

def _grid(size: int):
  return np.meshgrid(np.linspace(0.0, 1.0, size), np.linspace(0.0, 1.0, size), indexing="ij")


def _colours(rng, n: int) -> np.ndarray:
  return rng.uniform(0.0, 1.0, (n, 3))


def background(rng: np.random.Generator, kind: str, size: int) -> np.ndarray:
  """One procedural colour image [size, size, 3] in [0, 1] of ``kind``."""
  yy, xx = _grid(size)
  if kind == "gradient":  # two colours blended along a random direction
    a, b = _colours(rng, 2)
    angle = rng.uniform(0, 2 * np.pi)
    t = np.cos(angle) * xx + np.sin(angle) * yy
    t = (t - t.min()) / (t.max() - t.min())
    return (1 - t)[..., None] * a + t[..., None] * b
  if kind == "value_noise":  # random colours on a coarse grid, bilinearly upsampled
    cells = int(rng.integers(3, 9))
    coarse = to_uint8(rng.uniform(0.0, 1.0, (cells, cells, 3)))
    return np.asarray(Image.fromarray(coarse).resize((size, size), Image.BILINEAR)) / 255.0
  if kind == "stripes":  # a sinusoid between two colours
    a, b = _colours(rng, 2)
    angle, freq = rng.uniform(0, np.pi), rng.uniform(2.0, 8.0)
    t = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (np.cos(angle) * xx + np.sin(angle) * yy))
    return (1 - t)[..., None] * a + t[..., None] * b
  if kind == "checkers":
    a, b = _colours(rng, 2)
    cells = int(rng.integers(2, 8))
    t = ((np.floor(xx * cells * 0.999) + np.floor(yy * cells * 0.999)) % 2)[..., None]
    return (1 - t) * a + t * b
  if kind == "blotches":  # Gaussian blobs of colour over a base colour
    out = np.broadcast_to(_colours(rng, 1)[0], (size, size, 3)).copy()
    for _ in range(int(rng.integers(3, 8))):
      cy, cx = rng.uniform(0, 1, 2)
      r = rng.uniform(0.08, 0.3)
      w = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))[..., None]
      out = (1 - w) * out + w * _colours(rng, 1)[0]
    return out
  raise ValueError(f"unknown background kind {kind!r}; choose one of {BACKGROUND_KINDS}.")


def backgrounds(n: int, size: int, seed: int = 0) -> np.ndarray:
  """``n`` procedural colour images [n, size, size, 3] in [0, 1], the kinds in turn."""
  rng = np.random.default_rng(seed)
  return np.stack([background(rng, BACKGROUND_KINDS[i % len(BACKGROUND_KINDS)], size)
                   for i in range(n)]).astype(np.float32)


def blend(digits01: np.ndarray, crops01: np.ndarray) -> np.ndarray:
  """MNIST-M's recipe: |crop - digit| per channel, the digit [N, H, W, 1] binarised at 0.5."""
  return np.abs(crops01 - (digits01 >= 0.5).astype(np.float32))


def render_m(split: Split, seed: int, bank: np.ndarray) -> Split:
  """``split``'s grey digits blended with random crops of the colour images ``bank``."""
  rng = np.random.default_rng(seed)
  n, size = len(split), split.x.shape[1]
  span = bank.shape[1] - size + 1
  which, top, left = rng.integers(0, len(bank), n), rng.integers(0, span, n), rng.integers(0, span, n)
  crops = np.stack([bank[w, t:t + size, l:l + size] for w, t, l in zip(which, top, left)])
  return Split(to_uint8(blend(split.x.astype(np.float32) / 255.0, crops)), split.y)


def to_channels(split: Split, channels: int) -> Split:
  """Grey images tiled to RGB (or RGB to grey by the mean), as the target has them."""
  c = split.x.shape[-1]
  if c == channels:
    return split
  if c == 1:
    return dataclasses.replace(split, x=np.repeat(split.x, channels, axis=-1))
  grey = np.round(split.x.astype(np.float32).mean(-1, keepdims=True)).astype(np.uint8)
  return dataclasses.replace(split, x=grey)


def digits_domains(image_size: int = 16) -> Domains:
  """digits (grey, as RGB) -> digits-m, unpaired (see the module docstring)."""
  from jaxgan.data.digits import load_digits

  digits = load_digits(image_size)
  even, odd = digits.train.x[0::2], digits.train.x[1::2]
  source_train = to_channels(Split(even, digits.train.y[0::2]), 3)
  source_test = to_channels(digits.test, 3)
  source = Dataset("digits", source_train, to_channels(digits.validation, 3), source_test, 10)
  bank = backgrounds(200, 2 * image_size)
  held_out = Split(np.concatenate([digits.validation.x, digits.test.x]),
                   np.concatenate([digits.validation.y, digits.test.y]))
  odd_split = Split(odd, digits.train.y[1::2])
  renders = [render_m(odd_split, 10 + r, bank) for r in range(TARGET_RENDERS)]
  target_train = Split(np.concatenate([r.x for r in renders]), np.concatenate([r.y for r in renders]))
  target_test = render_m(held_out, 2, bank)
  return Domains(source, Dataset("digits-m", target_train, target_test, target_test, 10))


# ---- real data ------------------------------------------------------------------------------------

def _resize(x: np.ndarray, size: int | None) -> np.ndarray:
  if size is None or x.shape[1:3] == (size, size):
    return x
  c = x.shape[-1]
  out = [np.asarray(Image.fromarray(im[..., 0] if c == 1 else im).resize((size, size), Image.BILINEAR))
         for im in x]
  return np.stack(out).reshape(len(x), size, size, c)


def _read_labels(path: str) -> list[tuple[str, int]]:
  pairs = []
  with open(path) as f:
    for number, line in enumerate(f, 1):
      if not line.strip():
        continue
      parts = line.split()
      if len(parts) != 2 or not parts[1].isdigit():
        raise ValueError(f"{path}, line {number}: expected `FILE LABEL` with a class number >= 0 "
                         f"(e.g. `00000000.png 5`), got {line.strip()!r}.")
      pairs.append((parts[0], int(parts[1])))
  if not pairs:
    raise ValueError(f"{path} lists no images; MNIST-M's label files have one `FILE LABEL` line "
                     "per image.")
  return pairs


def check_mnist_m_layout(root: str) -> None:
  """Fails, naming what is missing, unless ``root`` has MNIST-M's folders and label files."""
  missing = [p for p in MNIST_M_LAYOUT if not os.path.exists(os.path.join(root, p))]
  if missing:
    raise ValueError(f"folder:{root} is not in MNIST-M's layout: {', '.join(missing)} missing. "
                     f"Expected {root}/{{{', '.join(MNIST_M_LAYOUT)}}} (label files: one "
                     "`FILE LABEL` line per image; the test labels are needed for evaluation).")


def load_mnist_m_folder(root: str, image_size: int | None = None,
                        max_examples: int | None = None) -> Dataset:
  """MNIST-M as distributed: ``root/mnist_m_{train,test}/`` images and
  ``root/mnist_m_{train,test}_labels.txt`` (``FILE LABEL`` per line). RGB uint8, resized to
  ``image_size`` (default: as stored); at most ``max_examples`` images per split."""
  check_mnist_m_layout(root)
  splits = {}
  for split in ("train", "test"):
    pairs = _read_labels(os.path.join(root, f"mnist_m_{split}_labels.txt"))[:max_examples]
    images = []
    for name, _ in pairs:
      path = os.path.join(root, f"mnist_m_{split}", name)
      if not os.path.exists(path):
        raise ValueError(f"mnist_m_{split}_labels.txt lists {name} but {path} does not exist.")
      with Image.open(path) as im:
        images.append(np.asarray(im.convert("RGB")))
    sizes = {im.shape for im in images}
    if len(sizes) > 1 and image_size is None:
      raise ValueError(f"folder:{root} holds images of sizes {sorted(sizes)}; pass --image-size.")
    x = np.stack([_resize(im[None], image_size)[0] for im in images]).astype(np.uint8)
    splits[split] = Split(x, np.asarray([label for _, label in pairs], np.int32))
  labels = np.concatenate([splits["train"].y, splits["test"].y])
  num_classes = int(labels.max()) + 1
  return Dataset(f"folder:{root}", splits["train"], splits["test"], splits["test"], num_classes)


def load_domains(source: str, target: str, image_size: int | None = None,
                 data_dir: str | None = None, max_examples: int | None = None) -> Domains:
  """The source and target by name (see the module docstring), checked to fit each other: the
  target's labels among the source's classes, the same size (both resized to ``image_size``, or
  as stored), the source in the target's channels."""
  from jaxgan.data import load_tfds

  if not (source == "digits" or (source.startswith("tfds:") and len(source) > 5)):
    raise ValueError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}.")
  if not (target == "digits-m" or (target.startswith("folder:") and len(target) > 7)):
    raise ValueError(f"unknown target {target!r}; use one of {', '.join(TARGETS)}.")
  if (source == "digits") != (target == "digits-m"):
    raise ValueError("digits and digits-m go together (--source digits --target digits-m); with real "
                     "data pass --source tfds:NAME --target folder:ROOT.")
  if source == "digits":
    if max_examples is not None:
      raise ValueError("--max-examples applies to tfds and folder data, not digits -> digits-m.")
    return digits_domains(16 if image_size is None else image_size)
  check_mnist_m_layout(target[7:])  # before the source, which may take long to load
  src = load_tfds(source[5:], image_size, data_dir, max_examples)
  if src.num_classes == 0:
    raise ValueError(f"{source} has no class labels; the source domain must be labelled.")
  tgt = load_mnist_m_folder(target[7:], image_size, max_examples)
  outside = sorted({int(v) for v in np.concatenate([tgt.train.y, tgt.test.y])
                    if v >= src.num_classes})
  if outside:
    raise ValueError(f"{target} has labels {outside[:5]} outside {source}'s {src.num_classes} "
                     "classes; the domains must share their classes.")
  tgt = dataclasses.replace(tgt, num_classes=src.num_classes)
  if src.data_shape[:2] != tgt.data_shape[:2]:
    raise ValueError(f"{source} images are {src.data_shape[0]} px and {target}'s "
                     f"{tgt.data_shape[0]} px; pass --image-size (16 or 32) to resize both.")
  src = dataclasses.replace(src, **{n: to_channels(getattr(src, n), tgt.data_shape[-1])
                                    for n in ("train", "validation", "test")})
  return Domains(src, tgt)
