"""Frame sequences for next-frame prediction.

``moving-digits`` (offline): 1 or 2 of scikit-learn's digits, up-sampled to 12-16 px (at 32 px;
in proportion at 64), move on a 32 x 32 canvas, grey on black or MNIST-M-style on a procedural
colour background (|background - digit|, the background fixed for the sequence). A digit keeps
its velocity, bounces off the walls, and at each frame with probability ``CHANGE_PROB`` takes a
new speed and direction: the motion is partly unpredictable, so a model that minimises L2
predicts a blur over the futures it cannot tell apart (what Mathieu et al. set out to fix).
Positions are whole pixels, so digits stay sharp. Train sequences use the digits' training
images, test sequences the held-out test images, each split from its own fixed seed: the same
sequences on every machine.

Every sequence has ``INPUT_FRAMES + TARGET_FRAMES`` = 4 + 2 frames. ``Split.masks`` [N, 2, H, W]
(bool) holds the moving pixels of each target frame: exactly the pixels whose value differs from
the frame before it (an unchanged pixel under a digit is not moving; the paper's equivalent is
thresholded optical flow). Sequences are stored as uint8 [N, T, H, W, C] and used in [-1, 1].
"""

import functools

import numpy as np
from PIL import Image

from jaxgan.data.base import Dataset, Split, to_uint8

INPUT_FRAMES, TARGET_FRAMES = 4, 2
SIZES = (32, 64)
BACKGROUNDS = ("grey", "colour")
CHANGE_PROB = 0.2          # per digit and frame: the chance of a new velocity
SPEED = (1.0, 3.0)         # pixels per frame at 32 px (in proportion at 64)
SEQUENCES = {"train": 6000, "test": 500}


def moving_masks(frames: np.ndarray, targets: int = TARGET_FRAMES, level: int = 0) -> np.ndarray:
  """[..., T, H, W, C] uint8 frames -> [..., targets, H, W] bool: the pixels of each of the last
  ``targets`` frames that differ (in some channel) from the frame before by more than ``level``."""
  t = frames.shape[-4]
  now, before = (frames[..., s, :, :, :].astype(np.int16)
                 for s in (slice(t - targets, t), slice(t - targets - 1, t - 1)))
  return np.any(np.abs(now - before) > level, axis=-1)


def _velocity(rng, scale: float) -> np.ndarray:
  angle = rng.uniform(0, 2 * np.pi)
  return rng.uniform(*SPEED) * scale * np.array([np.sin(angle), np.cos(angle)])


def trajectory(rng, frames: int, span: int, scale: float) -> np.ndarray:
  """[frames, 2] whole-pixel top-left positions in [0, span]: constant velocity, bouncing off
  the walls, a new velocity with probability ``CHANGE_PROB`` at each frame."""
  pos, vel = rng.uniform(0, span, 2), _velocity(rng, scale)
  out = []
  for _ in range(frames):
    out.append(np.round(pos).astype(int))
    if rng.uniform() < CHANGE_PROB:
      vel = _velocity(rng, scale)
    pos = pos + vel
    for axis in range(2):  # reflect off the walls
      if pos[axis] < 0:
        pos[axis], vel[axis] = -pos[axis], -vel[axis]
      elif pos[axis] > span:
        pos[axis], vel[axis] = 2 * span - pos[axis], -vel[axis]
  return np.stack(out)


def render(digits01: list[np.ndarray], paths: list[np.ndarray], size: int,
           background: np.ndarray | None = None) -> np.ndarray:
  """Frames [T, size, size, C] in [0, 1]: each digit [h, w] at its path's positions, overlapping
  digits by their maximum; on ``background`` [size, size, 3] as |background - digit|."""
  frames = np.zeros((len(paths[0]), size, size), np.float32)
  for digit, path in zip(digits01, paths):
    h, w = digit.shape
    for t, (top, left) in enumerate(path):
      view = frames[t, top:top + h, left:left + w]
      np.maximum(view, digit, out=view)
  if background is None:
    return frames[..., None]
  return np.abs(background[None] - frames[..., None])


def _digit(image01: np.ndarray, px: int) -> np.ndarray:
  return np.asarray(Image.fromarray(image01.astype(np.float32), mode="F").resize(
      (px, px), Image.BILINEAR)).clip(0.0, 1.0)


def make_sequences(images01: np.ndarray, n: int, size: int, background: str, seed: int,
                   frames: int = INPUT_FRAMES + TARGET_FRAMES) -> Split:
  """``n`` sequences of moving digits drawn from ``images01`` [M, 8, 8] in [0, 1]."""
  from jaxgan.data.domains import backgrounds

  rng = np.random.default_rng(seed)
  scale = size / 32
  bank = backgrounds(64, size, seed) if background == "colour" else None
  out = np.empty((n, frames, size, size, 1 if bank is None else 3), np.uint8)
  for i in range(n):
    count = int(rng.integers(1, 3))
    pxs = [int(round(rng.integers(12, 17) * scale)) for _ in range(count)]
    digits = [_digit(images01[rng.integers(len(images01))], px) for px in pxs]
    paths = [trajectory(rng, frames, size - px, scale) for px in pxs]
    bg = None if bank is None else bank[rng.integers(len(bank))]
    out[i] = to_uint8(render(digits, paths, size, bg))
  return Split(out, masks=moving_masks(out))


def load_moving_digits(image_size: int = 32, background: str = "grey",
                       sequences: dict | None = None) -> Dataset:
  """The ``moving-digits`` sequences (see the module docstring); ``sequences`` {split: count}
  (default ``SEQUENCES``)."""
  if image_size not in SIZES:
    raise ValueError(f"moving-digits is drawn at {SIZES} px, got --image-size {image_size}.")
  if background not in BACKGROUNDS:
    raise ValueError(f"unknown background {background!r}; use one of {BACKGROUNDS}.")
  counts = {**SEQUENCES, **(sequences or {})}
  return _moving_digits(image_size, background, counts["train"], counts["test"])


@functools.lru_cache(maxsize=2)  # a few seconds to draw; the arrays are not written to
def _moving_digits(image_size: int, background: str, n_train: int, n_test: int) -> Dataset:
  from jaxgan.data.digits import load_digits

  digits = load_digits(8)  # the same fixed train / test split of the images as everywhere else
  train = make_sequences(digits.train.x[..., 0] / 255.0, n_train, image_size, background, 1)
  test = make_sequences(np.concatenate([digits.validation.x, digits.test.x])[..., 0] / 255.0,
                        n_test, image_size, background, 2)
  name = "moving-digits" + ("" if background == "grey" else "-colour")
  return Dataset(name, train, test, test)
