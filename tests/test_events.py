"""TensorBoard event files: a run writes its scalars and figures beside metrics.jsonl; a resume
purges what a killed process logged past its checkpoint."""

import glob
import os
import struct

import pytest

from jaxgan import program
from jaxgan.algos import METHODS
from jaxrun import LoopConfig, run


def _events_of(path: str) -> list:
  """The events of one file: TFRecord framing (length, CRC, data, CRC) around TensorBoard
  ``Event`` protos, read with tensorboardX's own proto classes."""
  from tensorboardX.proto import event_pb2

  with open(path, "rb") as f:
    data = f.read()
  events, i = [], 0
  while i + 12 <= len(data):
    (length,) = struct.unpack("<Q", data[i:i + 8])
    event = event_pb2.Event()
    event.ParseFromString(data[i + 12:i + 12 + length])
    events.append(event)
    i += 12 + length + 4
  return events


def read_events(directory: str) -> list:
  """Every event of the run's event files."""
  return [e for path in sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*")))
          for e in _events_of(path)]


def scalars(events) -> dict:
  out = {}
  for e in events:
    for v in e.summary.value:
      if v.HasField("simple_value"):
        out.setdefault(v.tag, []).append((e.step, v.simple_value))
  return out


def _run(out, steps):
  loop = LoopConfig(steps=steps, log_every=4, checkpoint_every=4, sample_every=4)
  return run.Run.new(METHODS.get("wgan"), str(out), settings=program.DataSettings("ring8"),
                     overrides={"hidden": (16,), "batch_size": 32}, loop=loop)


def test_a_run_writes_its_scalars_and_figures_for_tensorboard(tmp_path):
  out = tmp_path / "tb"
  run.train(_run(out, 8), progress=False)
  events = read_events(str(out))
  found = scalars(events)
  rows = [r for r in run.files.read_jsonl(str(out / "metrics.jsonl"))]
  assert [s for s, _ in found["wasserstein"]] == list(range(1, 9))
  assert [v for _, v in found["wasserstein"]] == pytest.approx([r["wasserstein"] for r in rows])
  assert found["eval/modes"][0][0] == 8  # the final evaluation, at its step
  images = {v.tag for e in events for v in e.summary.value if v.HasField("image")}
  assert images == {"samples", "curves"}


def test_a_resume_purges_what_the_killed_process_logged_after_its_checkpoint(tmp_path):
  out = tmp_path / "tb"

  def kill(step, state, m):
    if step >= 8:
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    run.train(_run(out, 12), progress=False, on_chunk=kill)  # logged 1..8, checkpoint at 4
  run.resume(str(out), METHODS, progress=False)
  files = sorted(glob.glob(os.path.join(str(out), "events.out.tfevents.*")), key=os.path.getmtime)
  first, second = (_events_of(f) for f in files)
  purge = [e.step for e in second if e.HasField("session_log")]
  assert purge == [5]  # TensorBoard hides the killed process's events from step 5 on
  seen = [s for s, _ in scalars(first)["wasserstein"] if s < purge[0]]
  seen += [s for s, _ in scalars(second)["wasserstein"]]
  assert seen == list(range(1, 13))  # every step once, as in metrics.jsonl
