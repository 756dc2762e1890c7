"""The failures a user can act on. The command line prints each as one line (no traceback)."""

import errno
import os


class RunError(RuntimeError):
  """A run cannot go on for a reason outside the code (a full disk, a damaged run directory, a
  divergence); the message says what happened and what to do."""


class TrainingDivergedError(RunError):
  """A NaN or inf appeared; the run stopped and its last good checkpoint was kept."""


class TrainingFailed(RuntimeError):
  """An unexpected error while training (a bug, not bad input): the command line shows its
  traceback (``__cause__``) instead of a one-line message."""


class NotPreparedError(RuntimeError):
  """Data a run needs is not on this machine (nothing downloads at run time); the message says how
  to prepare it."""


class RunDirectoryError(ValueError):
  """The run directory cannot be used as asked (it holds another run, is locked, is a file)."""


def _chain(err: BaseException):
  seen = set()
  while err is not None and id(err) not in seen:
    seen.add(id(err))
    yield err
    err = err.__cause__ or err.__context__


def disk_full_cause(err: BaseException) -> BaseException | None:
  """The error in ``err``'s chain that says the disk is full (an ``OSError`` with ENOSPC or
  EDQUOT, or a library's message with the C library's words for it); None if none does."""
  for e in _chain(err):
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
      return e
    if "No space left on device" in str(e) or "Disk quota exceeded" in str(e):
      return e
  return None


def disk_full(path: str, last_checkpoint: int | None, during_training: bool = True) -> RunError:
  """The one-line message for a full disk while writing ``path`` (a file or the run directory):
  during training, where the run stands; otherwise only what failed."""
  where = os.path.abspath(path)
  if not during_training:
    return RunError(f"no space left on the device while writing {where}; free some space and try "
                    "again.")
  kept = ("no checkpoint was complete yet" if last_checkpoint is None
          else f"the last complete checkpoint is step {last_checkpoint}")
  return RunError(f"no space left on the device while writing {where}; {kept}; free some space "
                  "and continue with --resume.")
