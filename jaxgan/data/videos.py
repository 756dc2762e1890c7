"""Real frame sequences from tensorflow-datasets, for users who have them prepared (read through
``tfds.data_source`` like every tfds dataset here; see ``jaxgan.data.tfds``).

``tfds:moving_mnist`` (Srivastava et al. 2015) ships only its test split: 10,000 sequences of 20
frames, 64 x 64 grey. It is the evaluation data (each sequence's first ``INPUT_FRAMES +
TARGET_FRAMES`` frames); training sequences are drawn the way the dataset itself was made, MNIST
digits bouncing on a 64 x 64 canvas, from ``tfds:mnist``'s train digits with moving-digits'
motion (``jaxgan.data.moving``).

``tfds:ucf101`` (config ``ucf101_1``, native 320 x 240) follows Mathieu et al.: training patches
of ``patch`` px cropped from random windows of the train videos, each crop tried up to
``CROP_TRIES`` times until the RMS of its last frame difference passes ``min_motion`` (the
official code's ``cropMinimumMotion`` criterion, in [-1, 1] units), and as test data the first
window of every 10th test video at full resolution. The paper found moving areas by optical
flow; here a pixel of a target frame moves when some channel changed by more than
``UCF_MOTION_LEVEL`` grey levels (codec noise changes almost every pixel by a little).
"""

import numpy as np

from jaxgan.data.base import Dataset, Split
from jaxgan.data.moving import INPUT_FRAMES, SEQUENCES, TARGET_FRAMES, make_sequences, moving_masks
from jaxgan.data.tfds import _open, _read

WINDOW = INPUT_FRAMES + TARGET_FRAMES
CROP_TRIES = 25           # the official code's cropMinimumMotionNTries
MIN_MOTION = 0.05         # RMS of the last frame difference of a training crop, [-1, 1] units
UCF_MOTION_LEVEL = 10     # grey levels: a larger change of a pixel counts as motion
UCF_TEST_EVERY = 10       # the paper's test set: every 10th test video
UCF_CLIPS_PER_VIDEO = 4   # training windows drawn from each train video


def motion_crop(rng, clip: np.ndarray, size: int, min_motion: float = MIN_MOTION,
                tries: int = CROP_TRIES) -> np.ndarray:
  """A ``size`` x ``size`` crop of ``clip`` [T, H, W, C] uint8 whose last frame difference has an
  RMS (in [-1, 1] units) above ``min_motion``; after ``tries`` failures, the last crop tried."""
  h, w = clip.shape[1:3]
  if h < size or w < size:
    raise ValueError(f"frames of {h} x {w} px are smaller than the {size} px training patches.")
  for _ in range(tries):
    top, left = rng.integers(h - size + 1), rng.integers(w - size + 1)
    crop = clip[:, top:top + size, left:left + size]
    change = (crop[-1].astype(np.float32) - crop[-2]) * (2 / 255)
    if np.sqrt(np.mean(change ** 2)) > min_motion:
      break
  return crop


def _video(example, key: str) -> np.ndarray:
  video = np.asarray(example[key])
  return video if video.ndim == 4 else video[..., None]


def _windows_at_start(source, indices, key: str) -> np.ndarray:
  clips = []
  for i in indices:
    video = _video(source[int(i)], key)
    if len(video) < WINDOW:
      continue  # too short to hold inputs and targets
    clips.append(video[:WINDOW])
  if not clips:
    raise ValueError(f"no test video has the {WINDOW} frames that {INPUT_FRAMES} inputs and "
                     f"{TARGET_FRAMES} targets need.")
  return np.stack(clips).astype(np.uint8)


def load_moving_mnist(data_dir: str | None = None, max_examples: int | None = None,
                      train_sequences: int = SEQUENCES["train"]) -> Dataset:
  """Test: the first ``WINDOW`` frames of each Moving MNIST test sequence (the first
  ``max_examples``); train: ``train_sequences`` generated from tfds:mnist's train digits."""
  import tensorflow_datasets as tfds

  source = _open(tfds, "moving_mnist", "test", data_dir)
  n = len(source) if max_examples is None else min(len(source), max_examples)
  test_x = _windows_at_start(source, range(n), "image_sequence")
  size = test_x.shape[2]
  # only the digits tfds:mnist trains on everywhere else (load_tfds holds out train's last 10%),
  # not its held-out and test images as well
  mnist = _read(_open(tfds, "mnist", "train[:90%]", data_dir), None, False, None)
  digits = mnist.x[..., 0] / 255.0
  train = make_sequences(digits, train_sequences, size, "grey", seed=1)
  test = Split(test_x, masks=moving_masks(test_x))
  return Dataset("tfds:moving_mnist", train, test, test)


def load_ucf101(patch: int = 32, data_dir: str | None = None, max_examples: int | None = None,
                config: str = "ucf101_1", min_motion: float = MIN_MOTION, seed: int = 0) -> Dataset:
  """Train: ``UCF_CLIPS_PER_VIDEO`` motion crops from random windows of each train video (the
  first ``max_examples`` videos); test: the first window of every 10th test video (at most
  ``max_examples`` of them), at native resolution."""
  import tensorflow_datasets as tfds

  name = f"ucf101/{config}"
  train_source, test_source = (_open(tfds, name, s, data_dir) for s in ("train", "test"))
  rng = np.random.default_rng(seed)
  n = len(train_source) if max_examples is None else min(len(train_source), max_examples)
  crops = []
  for i in range(n):
    video = _video(train_source[i], "video")
    if len(video) < WINDOW:
      continue
    for _ in range(UCF_CLIPS_PER_VIDEO):
      start = rng.integers(len(video) - WINDOW + 1)
      crops.append(motion_crop(rng, video[start:start + WINDOW], patch, min_motion))
  if not crops:
    raise ValueError(f"no train video of {name} has the {WINDOW} frames a training window needs.")
  train_x = np.stack(crops).astype(np.uint8)
  every = range(0, len(test_source), UCF_TEST_EVERY)
  test_x = _windows_at_start(test_source, list(every)[:max_examples], "video")
  test = Split(test_x, masks=moving_masks(test_x, level=UCF_MOTION_LEVEL))
  return Dataset(f"tfds:{name}", Split(train_x, masks=moving_masks(train_x, level=UCF_MOTION_LEVEL)),
                 test, test)
