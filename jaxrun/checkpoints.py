"""Orbax checkpoints of a run, restored from abstract shapes, with a fallback past damaged ones.

A resume takes the newest checkpoint that restores and holds finite values. One that does not (a
truncated data file, a removed ``default/`` or ``ocdbt.process_0/``, a cut ``_METADATA``) is moved
aside to ``checkpoints-damaged/`` (kept, not deleted) and the next older one is tried; the caller is
told which step it took and why. Orbax's own noise about a failed read (its error log lines and the
"Exception ignored in <coroutine ...>" reports of the reads it abandons) is held back while trying.
A full disk during a save becomes one :class:`~jaxrun.errors.RunError` line, and the temporary
directory of the cut save is removed.

With ``asynchronous=True`` a save returns once the state is copied to host memory and orbax writes
it on its own thread while training goes on (on 2 CPU cores a save of DQN CartPole's state is about
0.1 s, most of it waiting on the write: 1 s of a 25 s command). A write is waited for before the
next save starts, before :meth:`latest` answers, and by :meth:`wait` at the end of a run, and its
failure (a full disk) is reported then, naming the step it was writing. Orbax writes into a
temporary directory and renames it when complete, so a kill during a write loses only that write.
Ctrl-C during an asynchronous save or the wait for its write is held until they are complete (a
tenth of a second): orbax interrupted in its wait logs a traceback and forgets the step it was
writing, though its thread goes on to finish it.
A CPU array copied to host memory is shared with the numpy copy, so the next chunk does not donate
(overwrite) it until the write is done: it writes to new memory instead, which for a state the
size of an Atari replay (7 GB) is too much; such a program saves synchronously.
"""

import contextlib
import glob
import logging
import os
import shutil
import signal
import sys
import threading

import orbax.checkpoint as ocp

from jaxrun import errors


@contextlib.contextmanager
def _quiet():
  """Holds back orbax's logging and the unraisable-exception reports of its abandoned reads."""
  logger = logging.getLogger("absl")
  level, hook = logger.level, sys.unraisablehook
  logger.setLevel(logging.CRITICAL)
  sys.unraisablehook = lambda unraisable: None
  try:
    yield
  finally:
    logger.setLevel(level)
    sys.unraisablehook = hook


@contextlib.contextmanager
def _interrupt_held():
  """Ctrl-C (SIGINT) inside the block is delivered as the block ends."""
  main = threading.current_thread() is threading.main_thread()
  if not main or signal.getsignal(signal.SIGINT) is None:
    yield  # only the main thread receives signals; a handler not set from Python cannot be put back
    return
  held = []
  handler = signal.signal(signal.SIGINT, lambda *received: held.append(received))
  try:
    yield
  finally:
    signal.signal(signal.SIGINT, handler)
    if held:
      if callable(handler):
        handler(*held[0])
      elif handler == signal.SIG_DFL:
        signal.raise_signal(signal.SIGINT)


def _reason(err: BaseException) -> str:
  first = (str(err).strip().splitlines() or [type(err).__name__])[0]
  return f"{type(err).__name__}: {first[:160]}"


def _placed(template):
  """``template`` with a place for each array: its own sharding, else this process's first
  device. Orbax would otherwise lay an array out as it was saved, which fails where the devices
  differ (a run trained over 4 devices or 2 processes, evaluated in one process); a program lays a
  restored state out on its devices itself."""
  import jax

  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])

  def one(x):
    if isinstance(x, jax.ShapeDtypeStruct) and getattr(x, "sharding", None) is None:
      return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device)
    return x
  return jax.tree.map(one, template)


class Checkpoints:
  """The run's ``checkpoints/`` directory: ``keep`` newest checkpoints, written on orbax's thread
  (``asynchronous``) or before :meth:`save` returns."""

  def __init__(self, path: str, keep: int, asynchronous: bool = False):
    self.path = os.path.abspath(path)
    self.keep = keep
    self.asynchronous = asynchronous
    self._mngr = None
    self._writing = None  # the step of an asynchronous save not yet waited for

  @property
  def manager(self) -> ocp.CheckpointManager:
    if self._mngr is None:
      self._mngr = ocp.CheckpointManager(self.path, options=ocp.CheckpointManagerOptions(
          max_to_keep=self.keep, create=True, enable_async_checkpointing=self.asynchronous,
          cleanup_tmp_directories=True))
    return self._mngr

  def close(self) -> None:
    """Waits for a write in progress (its failure is not reported: see :meth:`wait`)."""
    self._writing = None
    if self._mngr is not None:
      mngr, self._mngr = self._mngr, None
      mngr.close()

  def steps(self) -> list[int]:
    if not os.path.isdir(self.path):
      return []
    return sorted(self.manager.all_steps())

  def latest(self) -> int | None:
    """The newest complete checkpoint (a write in progress is waited for; where it failed, the one
    before)."""
    if self._writing is not None:
      try:
        self.wait()
      except errors.RunError:
        pass  # the failed write is gone: the newest complete one is on disk
    steps = self.steps()
    return steps[-1] if steps else None

  def save(self, step: int, state) -> None:
    """Checkpoint ``step`` of ``state``: complete on return, or (``asynchronous``) copied to host
    memory and being written."""
    self.wait()
    # An asynchronous save's copy to host memory is short; a synchronous one (an Atari replay) is
    # not, and Ctrl-C may cut it: orbax's temporary directory is removed on resume.
    with _interrupt_held() if self.asynchronous else contextlib.nullcontext():
      try:
        self.manager.save(step, args=ocp.args.StandardSave(state))
      except Exception as e:
        self._failed(e, step)
      self._writing = step
    if not self.asynchronous:
      self.wait()

  def wait(self) -> None:
    """Until the write in progress is complete; a full disk during it is one RunError line."""
    if self._writing is None:
      return
    with _interrupt_held():
      try:
        self.manager.wait_until_finished()
        self.manager.check_for_errors()
      except Exception as e:
        self._failed(e, self._writing)
      self._writing = None

  def _failed(self, e: Exception, step: int):
    self._writing = None
    if errors.disk_full_cause(e) is None:
      raise e
    last = self._drop_partial()
    raise errors.disk_full(os.path.join(self.path, str(step)), last) from None

  def _drop_partial(self) -> int | None:
    """After a cut save: removes orbax's temporary directories; returns the newest complete step."""
    try:
      self.close()
    except Exception:  # noqa: BLE001  (the cut save's error, again: already being reported)
      self._mngr = None
    for tmp in glob.glob(os.path.join(self.path, "*.orbax-checkpoint-tmp*")):
      shutil.rmtree(tmp, ignore_errors=True)
    return self.latest()

  def restore(self, step: int, template):
    """The checkpoint of ``step`` into the structure, shapes and dtypes of ``template`` (abstract
    arrays: nothing is allocated for it)."""
    if step not in self.steps():
      have = ", ".join(map(str, self.steps())) or "none"
      raise FileNotFoundError(f"no checkpoint at step {step} in {self.path}; it has: {have}.")
    return self._read(step, template)

  def _read(self, step: int, template):
    with _quiet():
      return self.manager.restore(step, args=ocp.args.StandardRestore(_placed(template)))

  def restore_latest(self, template, is_finite) -> tuple[int | None, object, list[str], list[int]]:
    """(step, state, notes, passed over) for the newest checkpoint that restores and that
    ``is_finite`` accepts; step and state are None when none does. ``notes`` say which newer
    checkpoints were passed over and why; nothing is moved yet (see :meth:`set_aside`)."""
    notes, passed = [], []
    for step in reversed(self.steps()):
      try:
        state = self._read(step, template)
      except Exception as e:  # noqa: BLE001  (any failure to read means: damaged)
        notes.append(f"checkpoint {step} does not restore ({_reason(e)})")
        self.close()  # a failed read leaves the manager's idea of the layout behind: start afresh
      else:
        if is_finite(state):
          return step, state, notes, passed
        notes.append(f"checkpoint {step} holds non-finite values")
      passed.append(step)
    return None, None, notes, passed

  def set_aside(self, steps: list[int]) -> None:
    """Moves damaged checkpoints to ``checkpoints-damaged/`` (kept; a new save of their step must
    not meet them)."""
    if not steps:
      return
    self.close()
    aside = os.path.join(os.path.dirname(self.path), "checkpoints-damaged")
    os.makedirs(aside, exist_ok=True)
    for step in steps:
      dest, i = os.path.join(aside, str(step)), 1
      while os.path.exists(dest):
        dest, i = os.path.join(aside, f"{step}.{i}"), i + 1
      os.replace(os.path.join(self.path, str(step)), dest)
