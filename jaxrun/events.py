"""TensorBoard event files beside metrics.jsonl: ``tensorboard --logdir runs/`` shows every run
directory as a run. Written between chunks, never from inside the jitted loop.

The format is TensorBoard's, written with tensorboardX's own pieces (``EventsWriter`` and its
summary builders; no TensorFlow needed), but synchronously in the training thread rather than
through ``SummaryWriter``'s background thread: the events of a chunk are on disk (flushed) before
its checkpoint, and a full disk is an error where the loop can report it, instead of a traceback in
a writer thread that then blocks the run.
"""

import math
import os
import time

import numpy as np


class EventLog:
  """Scalars and images of one run. ``purge_step``: a resume from the checkpoint before it, so
  TensorBoard hides what an earlier, killed process logged from that step on."""

  def __init__(self, path: str, purge_step: int | None = None, enabled: bool = True):
    self.path, self.purge_step, self._writer = path, purge_step, None
    self.enabled = enabled  # False: writes nothing (a process other than the one that logs)

  @property
  def writer(self):
    if self._writer is None:  # imported on first use: it costs start-up time
      from tensorboardX.event_file_writer import EventsWriter
      from tensorboardX.proto.event_pb2 import Event, SessionLog

      # The file name holds a time in seconds; the pid and a counter keep two writers apart.
      self._writer = EventsWriter(os.path.join(self.path, "events"),
                                  f".{os.getpid()}.{time.perf_counter_ns()}")
      if self.purge_step is not None:
        self._writer.write_event(Event(step=self.purge_step,
                                       session_log=SessionLog(status=SessionLog.START)))
    return self._writer

  def _write(self, step: int, summary) -> None:
    from tensorboardX.proto.event_pb2 import Event

    self.writer.write_event(Event(wall_time=time.time(), step=int(step), summary=summary))

  def scalars(self, step: int, values: dict, prefix: str = "", lists: bool = True) -> None:
    """Every number of ``values``; with ``lists``, a list (one value per seed) as its mean, unless
    the row has the mean already (``NAME_mean``)."""
    if not self.enabled:
      return
    from tensorboardX import summary

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
        self._write(step, summary.scalar(prefix + k, float(v)))

  def image(self, tag: str, png_path: str, step: int) -> None:
    if not self.enabled:
      return
    from PIL import Image
    from tensorboardX import summary

    with Image.open(png_path) as im:
      array = np.asarray(im.convert("RGB"))
    self._write(step, summary.image(tag, array, dataformats="HWC"))

  def flush(self) -> None:
    if self._writer is not None:
      self._writer.flush()

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._writer = None
