"""The run directory: its files, written so that a kill or a full disk at any moment loses nothing.

  config.json        the run's record: tool, method, preset, loop settings, the method's settings
                     and config (rebuilds everything)
  metrics.jsonl      one JSON line per logged step; appended between chunks
  checkpoints/       orbax checkpoints (see :mod:`jaxrun.checkpoints`)
  events.out.tfevents.*   TensorBoard: the same scalars, the figures as images
  eval.json, figures (samples/, samples.png, curves.png)
  .lock              held (flock) by the process training in the directory; it names its pid

Every file but the appended ones is written atomically: to a temporary file beside it, flushed to
disk, then renamed over the old one, so a reader sees the old file or the new one, never a part.
metrics.jsonl is appended line by line; a kill or a full disk can leave its last line torn (no
newline), and reading drops such a line, while a damaged line elsewhere is an error that names the
file and the line.
"""

import contextlib
import fcntl
import glob
import json
import os
import tempfile
import threading

from jaxrun.errors import RunDirectoryError, RunError

# What config.json holds (see jaxrun.run.Run.record).
RECORD_KEYS = ("tool", "method", "preset", "loop", "settings", "config")
# What a run writes; any of them present means the directory already holds a run.
RUN_FILES = ("config.json", "metrics.jsonl", "eval.json", "checkpoints", "samples", "samples.png",
             "curves.png", "classifier.msgpack")


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


_MODE = 0o666 & ~_umask()  # what open() would have given the file


@contextlib.contextmanager
def atomic_output(path: str):
  """Yields a temporary path beside ``path`` (same suffix, for writers that infer the format from
  it); when the block succeeds the file is flushed to disk and renamed to ``path``."""
  directory, name = os.path.split(os.path.abspath(path))
  suffix = os.path.splitext(name)[1]
  fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=f".tmp{suffix}", dir=directory)
  os.close(fd)
  os.chmod(tmp, _MODE)
  try:
    yield tmp
    with open(tmp, "rb+") as f:
      os.fsync(f.fileno())
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def atomic_write(path: str, data: str | bytes) -> None:
  with atomic_output(path) as tmp, open(tmp, "wb") as f:
    f.write(data.encode() if isinstance(data, str) else data)


def write_json(path: str, obj) -> None:
  atomic_write(path, json.dumps(obj, indent=2) + "\n")


def read_json(path: str, what: str = "file"):
  try:
    with open(path) as f:
      return json.load(f)
  except json.JSONDecodeError as e:
    raise RunError(f"{path} is damaged ({e}); it is not a readable {what}.") from None


def cached_tree(path: str | None, template, make, must_write: bool = True):
  """``make()``'s pytree, written to ``path`` (flax msgpack, atomically) the first time and read
  back (into ``template``'s structure) after; a file that does not read, cut short or of another
  structure, is made again. For results that are deterministic but slow to make (a classifier
  trained with a fixed seed): making them again gives the same. ``must_write=False``: a cache
  that cannot be written (a full disk, a read-only home) is gone without, not an error."""
  from flax import serialization

  with _made_once(path):
    if path and os.path.exists(path):
      with open(path, "rb") as f:
        data = f.read()
      try:
        return serialization.from_bytes(template, data)
      except Exception:  # noqa: BLE001  (any failure to read: make it again)
        pass
    tree = make()
    if path:
      try:
        atomic_write(path, serialization.to_bytes(tree))
      except OSError:
        if must_write:
          raise
    return tree


@contextlib.contextmanager
def _made_once(path: str | None):
  """For a result in the user's cache (shared by every run on the machine): holds the cache's
  ``.lock`` (an empty file), so that of two processes that ask for one result at once (two runs
  started together, the test suite's workers) the second waits and reads what the first made
  instead of making it again. A result elsewhere (a run directory, which its run's own lock
  guards), or a lock file that cannot be made, goes without."""
  lock, root = None, os.path.abspath(_cache_root())
  held = getattr(_made_once_in, "thread", False)  # a make() that asks for another result
  if not held and path and os.path.dirname(os.path.abspath(path)) == root:
    try:
      lock = open(os.path.join(root, ".lock"), "a")
    except OSError:
      pass
  with lock or contextlib.nullcontext():  # closing it releases the lock
    if lock is not None:
      try:
        fcntl.flock(lock, fcntl.LOCK_EX)
      except OSError:
        pass  # a file system without locks (some NFS mounts): made twice at worst
    _made_once_in.thread = held or lock is not None
    try:
      yield
    finally:
      _made_once_in.thread = held


_made_once_in = threading.local()  # .thread: this thread holds the cache's lock


def _cache_root() -> str:
  return os.environ.get("JAXGAN_CACHE") or os.path.join(
      os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "jaxgan")


def user_cache(name: str) -> str | None:
  """A path for ``name`` in the user's cache (``$JAXGAN_CACHE``, else ``$XDG_CACHE_HOME/jaxgan``,
  else ``~/.cache/jaxgan``), for instruments that are the same for every run (trained with a
  fixed seed); None where that directory cannot be made (the caller then goes without a cache;
  one that cannot be written to is :func:`cached_tree`'s ``must_write=False``)."""
  root = _cache_root()
  try:
    os.makedirs(root, exist_ok=True)
  except OSError:
    return None
  return os.path.join(root, name)


COMPILATION_CACHE_BYTES = 2 << 30


def _host_tag() -> str:
  """A short digest of the machine type and the CPU's instruction-set flags: XLA:CPU compiles for
  the host's instructions, so a cache shared by machines (a network home) keeps one directory
  per kind of CPU."""
  import hashlib
  import platform

  flags = ""
  try:
    with open("/proc/cpuinfo") as f:
      flags = next((line for line in f if line.startswith(("flags", "Features"))), "")
  except OSError:
    pass
  return hashlib.sha256(f"{platform.machine()} {platform.processor()} {flags}".encode()).hexdigest()[:10]


def use_compilation_cache() -> str | None:
  """Keeps the programs XLA compiles in the user's cache (``xla-HOST`` under :func:`user_cache`,
  HOST a digest of the CPU's kind; at most 2 GiB, the least recently used dropped first), so a
  run's next run, resume, ``sample`` or ``eval`` reads its programs back instead of compiling
  them again (benchmarks/first_result.py: a second 50-step StackGAN Stage-I run in 70 s): the
  same programs, the same bits. The directory path; None, leaving JAX as it is, where the user
  chose a cache (``JAX_COMPILATION_CACHE_DIR``) or none (``JAX_ENABLE_COMPILATION_CACHE=false``),
  or where the user cache cannot be made."""
  import jax

  if jax.config.jax_compilation_cache_dir or "JAX_ENABLE_COMPILATION_CACHE" in os.environ:
    return None
  path = user_cache(f"xla-{_host_tag()}")
  if path is None:
    return None
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_compilation_cache_max_size", COMPILATION_CACHE_BYTES)
  return path


def read_jsonl(path: str) -> list[dict]:
  """The rows of a JSON-lines file; a torn last line (no newline: a write cut short) is dropped."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return _parse_jsonl(f.read(), path)


def _parse_jsonl(text: str, path: str) -> list[dict]:
  lines = text.split("\n")
  rows = []
  for i, line in enumerate(lines[:-1]):  # the last piece has no newline: torn or empty
    if not line.strip():
      continue
    try:
      rows.append(json.loads(line))
    except json.JSONDecodeError as e:
      raise RunError(f"{path}, line {i + 1}, is damaged ({e}); remove or repair that line, then "
                     "try again.") from None
  return rows


class RunDir:
  """The files of one run directory (nothing is created until something is written)."""

  def __init__(self, path: str):
    self.path = path
    self._lock = None

  def file(self, name: str) -> str:
    return os.path.join(self.path, name)

  @property
  def config(self) -> str:
    return self.file("config.json")

  @property
  def metrics(self) -> str:
    return self.file("metrics.jsonl")

  @property
  def checkpoints(self) -> str:
    return self.file("checkpoints")

  # ---- what is there ----------------------------------------------------------------------------

  def check_usable(self) -> None:
    """Fails unless the path is a directory or can become one."""
    if os.path.exists(self.path) and not os.path.isdir(self.path):
      raise RunDirectoryError(f"--out {self.path} is a file, not a directory; choose another --out.")
    parent = os.path.dirname(os.path.abspath(self.path))
    while not os.path.exists(parent):
      parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
      raise RunDirectoryError(f"--out {self.path} lies under the file {parent}; choose another --out.")

  def run_files(self) -> list[str]:
    """The run files present (any of them means the directory holds a run)."""
    if not os.path.isdir(self.path):
      return []
    found = [n for n in RUN_FILES if os.path.exists(self.file(n))]
    return found + sorted(os.path.basename(p) for p in glob.glob(self.file("events.out.tfevents.*")))

  # ---- the lock ---------------------------------------------------------------------------------

  def lock(self) -> None:
    """Takes the directory for this process (creating it); refused while another process holds it.
    The lock goes with the process: a killed run leaves nothing to clean up."""
    self.check_usable()
    os.makedirs(self.path, exist_ok=True)
    f = open(self.file(".lock"), "a+")
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      f.seek(0)
      holder = f.read().strip() or "unknown"
      f.close()
      raise RunDirectoryError(f"{self.path} is in use by another training (pid {holder}); wait for "
                              "it to end or choose another --out.") from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    self._lock = f

  def unlock(self) -> None:
    if self._lock is not None:
      self._lock.close()  # closing releases the flock
      self._lock = None

  # ---- files ------------------------------------------------------------------------------------

  def read_record(self) -> dict:
    if not os.path.exists(self.config):
      raise FileNotFoundError(f"{self.path} is not a run directory (no config.json).")
    record = read_json(self.config, "run record")
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
      raise RunDirectoryError(f"{self.config} is not a run record of this version (it has no "
                              f"{', '.join(missing)}); start a new run in another --out.")
    return record

  def write_record(self, record: dict) -> None:
    write_json(self.config, record)

  def read_metrics(self) -> list[dict]:
    return read_jsonl(self.metrics)

  def truncate_metrics(self, step: int) -> list[dict]:
    """Keeps the rows up to ``step`` (a resume from that checkpoint) and drops a torn last line;
    the file is replaced atomically. Returns the rows kept."""
    if not os.path.exists(self.metrics):
      return []
    with open(self.metrics) as f:
      text = f.read()
    kept = [r for r in _parse_jsonl(text, self.metrics) if r["step"] <= step]
    new = "".join(json.dumps(r) + "\n" for r in kept)
    if new != text:
      atomic_write(self.metrics, new)
    return kept

  def append_metrics(self, rows: list[dict]) -> None:
    with open(self.metrics, "a") as f:
      f.write("".join(json.dumps(r) + "\n" for r in rows))

  def write_eval(self, result: dict) -> None:
    write_json(self.file("eval.json"), result)
