"""The in-memory dataset every loader returns."""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Split:
  x: np.ndarray                 # uint8 images [N, H, W, C] (used in [-1, 1]) or float32 points [N, D]
  y: np.ndarray | None = None   # int32 class labels [N]
  captions: np.ndarray | None = None  # captioned data: [N, K] strings, K captions per image
  attributes: dict | None = None      # captioned data: attribute name -> int32 values [N]
  features: np.ndarray | None = None  # captioned data: fixed image features [N, D] (optional)
  masks: np.ndarray | None = None     # frame sequences: moving pixels of each target frame [N, K, H, W]

  def __len__(self) -> int:
    return len(self.x)

  def as_device_data(self) -> dict:
    """The dict that ``train_step`` draws batches from (put it on the device once)."""
    return {"x": self.x} if self.y is None else {"x": self.x, "y": self.y}

  def floats(self) -> np.ndarray:
    """Examples as float32 in the model's range ([-1, 1] for images)."""
    return floats(self.x)


@dataclasses.dataclass(frozen=True)
class Dataset:
  name: str
  train: Split
  validation: Split
  test: Split
  num_classes: int = 0                   # 0: unlabelled
  centres: np.ndarray | None = None      # 2-D mixtures: mode centres
  std: float | None = None               # 2-D mixtures: per-mode standard deviation

  @property
  def data_shape(self) -> tuple[int, ...]:
    return tuple(self.train.x.shape[1:])

  @property
  def is_image(self) -> bool:
    return len(self.data_shape) == 3


def floats(x: np.ndarray) -> np.ndarray:
  """uint8 images as float32 in [-1, 1]; anything else as float32."""
  if x.dtype == np.uint8:
    return x.astype(np.float32) / 127.5 - 1.0
  return x.astype(np.float32)


def to_uint8(images01: np.ndarray) -> np.ndarray:
  """[0, 1] floats -> uint8."""
  return np.clip(np.round(images01 * 255.0), 0, 255).astype(np.uint8)
