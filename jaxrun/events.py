"""TensorBoard event files beside metrics.jsonl (tensorboardX's writer: the format is TensorBoard's
own, and no TensorFlow is needed). Written between chunks, never from inside the jitted loop:
``tensorboard --logdir runs/`` shows every run directory as a run."""

import math

import numpy as np


class EventLog:
  """Scalars and images of one run. ``purge_step``: a resume from that step, so TensorBoard drops
  what an earlier, killed process logged at or after it."""

  def __init__(self, path: str, purge_step: int | None = None):
    self.path, self.purge_step, self._writer = path, purge_step, None

  @property
  def writer(self):
    if self._writer is None:  # imported on first use: it costs start-up time
      from tensorboardX import SummaryWriter

      self._writer = SummaryWriter(self.path, purge_step=self.purge_step, flush_secs=30)
    return self._writer

  def scalars(self, step: int, values: dict, prefix: str = "", lists: bool = True) -> None:
    """Every number of ``values``; with ``lists``, a list (one value per seed) as its mean, unless
    the row has the mean already (``NAME_mean``)."""
    for k, v in values.items():
      if k in ("step", "seconds") or isinstance(v, (bool, str, dict)) or v is None:
        continue
      if isinstance(v, (list, tuple)):
        if not lists or f"{k}_mean" in values:
          continue
        v = [x for x in v if isinstance(x, (int, float)) and not isinstance(x, bool)]
        if not v:
          continue
        v = float(np.mean(v))
      if isinstance(v, (int, float)) and math.isfinite(v):
        self.writer.add_scalar(prefix + k, v, step)

  def image(self, tag: str, png_path: str, step: int) -> None:
    from PIL import Image

    with Image.open(png_path) as im:
      array = np.asarray(im.convert("RGB"))
    self.writer.add_image(tag, array, step, dataformats="HWC")

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._writer = None
