"""The chunk loop: every method's training runs through :func:`run_chunks`.

Python touches training only between chunks. A chunk is the program's jitted scan over
``log_every`` steps (one compiled function per chunk length, kept). After each chunk, in this
order: the ``on_chunk`` hook (the place to watch a run, or to inject a fault in a test), the NaN
guard (on what the program watches: a state whose watched values are not finite is never saved),
the evaluation when due (its fields join the chunk's last metrics row), metrics.jsonl and
TensorBoard, the progress bar, the sample figure when due, the checkpoint when due and, for a
program that ``restarts``, the renewal of what the checkpoint cannot hold. :func:`finish` writes the end-of-run files. The chunks a process compiles are left out
of the training speed it reports (``steps_per_s``, over the warm chunks), and the seconds of each
phase (compiling, training, evaluation, figures, logs, checkpoints) are added up for the run's
summary, which the command line prints as one line at the end. Compiling is the time JAX spent
tracing, lowering and compiling, wherever it fell (a first chunk, an evaluation); data is what a
program makes when the first chunk asks for it (StackGAN's caption embeddings); the steps of
every chunk count as training.
"""

import contextlib
import dataclasses
import os
import threading
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxrun import files, hosts
from jaxrun.checkpoints import Checkpoints
from jaxrun.errors import TrainingDivergedError
from jaxrun.events import EventLog
from jaxrun.method import LoopConfig, Program


class Interrupted(KeyboardInterrupt):
  """Ctrl-C (or a kill the hook simulates) during training: where the run stood."""

  def __init__(self, step: int, checkpoint: int | None):
    super().__init__(step, checkpoint)
    self.step, self.checkpoint = step, checkpoint


@jax.jit
def _finite(tree) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def all_finite(tree) -> bool:
  """Whether every floating-point leaf of ``tree`` is free of NaN and inf (one device call)."""
  return bool(_finite(tree))


def _crossed(step: int, prev: int, every: int) -> bool:
  return bool(every) and step // every > prev // every


# The duration events JAX records while it turns a function into an executable: tracing, lowering
# to MLIR, and XLA compiling it (or reading it back from the persistent cache).
COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration",
                  "/jax/core/compile/jaxpr_to_mlir_module_duration",
                  "/jax/core/compile/backend_compile_duration")


def covered(spans: list[tuple[float, float]]) -> float:
  """Seconds covered by the union of (start, end) spans (nested and overlapping ones once)."""
  total, reach = 0.0, float("-inf")
  for start, end in sorted(spans):
    if end > reach:
      total += end - max(start, reach)
      reach = end
  return total


@dataclasses.dataclass
class Block:
  seconds: float = 0.0   # the whole block
  compiling: float = 0.0  # of which JAX spent compiling


@contextlib.contextmanager
def timed(phases: dict, name: str, clock: Callable = time.perf_counter):
  """Adds the seconds of the block to ``phases[name]``, less the time JAX spent compiling in it
  (from ``jax.monitoring``'s compile events), which goes to ``phases["compiling"]``. Yields a
  :class:`Block` that holds both once the block ends."""
  spans, block, thread = [], Block(), threading.get_ident()

  def listener(event, start, end, **_):
    # this thread's only: a precompile on another thread (Program.precompile) overlaps the block
    if event in COMPILE_EVENTS and threading.get_ident() == thread:
      spans.append((start, end))

  jax.monitoring.register_event_time_span_listener(listener)
  t = clock()
  try:
    yield block
  finally:
    block.seconds = clock() - t
    jax.monitoring.unregister_event_time_span_listener(listener)
    block.compiling = min(covered(spans), block.seconds)
    phases[name] = phases.get(name, 0.0) + block.seconds - block.compiling
    if block.compiling:
      phases["compiling"] = phases.get("compiling", 0.0) + block.compiling


@dataclasses.dataclass
class Outcome:
  state: Any
  step: int
  seconds: float
  last_row: dict
  final_eval: dict | None         # the evaluation of the final step, when this process made it
  steps_per_s: float | None       # over the chunks whose length was already compiled
  phases: dict = dataclasses.field(default_factory=dict)  # seconds: compiling, training, ...


def _in_background(work: Callable, name: str) -> threading.Thread:
  """``work()`` on a thread of its own (a daemon: an interrupted run does not wait for it). A
  failure is left for the main thread to meet again where the program is used, with its own
  message. Compiling there overlaps the main thread's work: XLA compiles on one core."""
  def guarded():
    try:
      work()
    except Exception:  # noqa: BLE001  (see above)
      pass
  thread = threading.Thread(target=guarded, name=name, daemon=True)
  thread.start()
  return thread


def _precompile(program: Program, state) -> threading.Thread:
  """``program.precompile`` for the shapes of ``state``, in the background."""
  abstract = jax.eval_shape(lambda s: s, state)
  return _in_background(lambda: program.precompile(abstract), "precompile")


def _chunk_length(loop: LoopConfig, spi: int, iters: int) -> int:
  """Iterations of the chunk that starts at iteration ``iters``: to the next multiple of
  ``log_every`` or the end of the run (0 once it is done)."""
  chunk_iters = max(loop.log_every // spi, 1)
  return min(chunk_iters - iters % chunk_iters, loop.steps // spi - iters)


def compile_ahead(program: Program, loop: LoopConfig, step: int = 0) -> threading.Thread | None:
  """``program.compile_chunk`` of the first chunk from ``step``, in the background: started
  before the state is made (init, or the restore of a checkpoint at ``step``), and joined by
  :func:`run_chunks` before that chunk's call (``ahead``)."""
  spi = program.steps_per_iteration
  first = _chunk_length(loop, spi, step // spi)
  if first <= 0:
    return None
  return _in_background(lambda: program.compile_chunk(first), "compile-ahead")


def _diverged(program: Program, m: dict, step: int, end: int, out: str,
              good: int | None) -> TrainingDivergedError:
  bad = sorted(k for k, v in m.items() if not np.all(np.isfinite(np.asarray(v, float))))
  what = ", ".join(bad) if bad else "the parameters"
  kept = (f"The last good checkpoint (step {good}) is kept in {out}." if good is not None else
          "No checkpoint had been written yet.")
  return TrainingDivergedError(
      f"training diverged: non-finite values ({what}) between {program.steps_name} {step} and "
      f"{end}. {kept} A resume would replay the same steps: start a new run with a lower learning "
      "rate or another config.")


def run_chunks(program: Program, rundir: files.RunDir, checkpoints: Checkpoints, loop: LoopConfig,
               state, *, events: EventLog, progress: bool = True,
               on_chunk: Callable | None = None, clock: Callable = time.perf_counter,
               seconds_before: float = 0.0, resumed: bool = False,
               ahead: threading.Thread | None = None) -> Outcome:
  """Trains ``state`` to ``loop.steps``; returns where it ended. A ``resumed`` state of a program
  that ``restarts`` is first continued on renewed resources. ``ahead``: the thread of
  :func:`compile_ahead`, compiling the first chunk."""
  from tqdm.auto import tqdm

  spi = program.steps_per_iteration
  main = hosts.is_main()  # the one process (of several) that writes the logs and shows progress
  step = program.step(state)
  total_iters = loop.steps // spi
  iters = step // spi
  chunks: dict[int, Callable] = {}
  bar = tqdm(total=total_iters * spi, initial=step, disable=not (progress and main),
             unit=program.unit, unit_scale=spi > 1, desc=program.description, dynamic_ncols=True)
  timed_steps, timed_seconds, last_row, final_eval = 0, 0.0, {}, None
  phases = {"data": 0.0, "compiling": 0.0}  # named first, so the summary line reads in order
  t0 = clock() - seconds_before
  precompiling = None  # the thread of program.precompile, started once the first chunk is running
  try:
    if program.restarts and resumed and iters < total_iters:
      state = program.restart(state, step)
    while iters < total_iters:
      n = _chunk_length(loop, spi, iters)
      warm = n in chunks  # the first call of each length compiles it
      if not warm:
        with timed(phases, "data", clock):  # what a program makes when first asked (its data)
          chunks[n] = program.make_chunk(n)
      if ahead is not None:  # its call would otherwise compile the same program again
        with timed(phases, "compiling", clock):  # (the other thread's compile events: not seen)
          ahead.join()
        ahead = None
      with timed(phases, "training", clock) as block:
        new_state, m = chunks[n](state)
        if precompiling is None and loop.evaluate and main:
          precompiling = _precompile(program, new_state)
        if on_chunk is not None:
          new_state, m = on_chunk((iters + n) * spi, new_state, m) or (new_state, m)
        m = hosts.to_host(m)
        finite = all_finite(program.watch(new_state, m))
      if warm:  # the speed leaves out the chunks that compiled (and made the data they read)
        timed_steps, timed_seconds = timed_steps + n * spi, timed_seconds + block.seconds
      if not finite:
        raise _diverged(program, m, step, (iters + n) * spi, rundir.path, checkpoints.latest())
      state, prev, iters = new_state, step, iters + n
      step, done = iters * spi, iters == total_iters
      seconds = clock() - t0
      rows = program.rows(prev, n, m, seconds)
      # The chunk's last row carries the run's seconds so far: a resume goes on counting from them.
      rows[-1].setdefault("seconds", seconds)
      due = loop.evaluate and (done or _crossed(step, prev, loop.eval_every))
      if done and not program.evaluates_into_rows:
        due = False  # nothing for the row: finish() evaluates, after the final checkpoint
      if due:
        with timed(phases, "evaluation", clock):
          if precompiling is not None:
            precompiling.join()
          view = local(state)  # every process takes part; process 0 evaluates
          evaluation = program.evaluate(view, step) if main else None
        if evaluation is not None:
          rows[-1].update(evaluation[0])
          events.scalars(step, evaluation[1], "eval/", lists=False)
          final_eval = evaluation[1] if done else None
      with timed(phases, "logs", clock):
        if main:
          rundir.append_metrics(rows)
        for row in rows:
          events.scalars(row["step"], row)
        last_row = rows[-1]
        bar.update(step - prev)
        bar.set_postfix(_postfix(last_row), refresh=False)
      if _crossed(step, prev, loop.sample_every):
        with timed(phases, "figures", clock):
          view = local(state)
          if main:
            figure(program, view, rundir.file(os.path.join("samples", f"step_{step:07d}.png")),
                   events, "samples", step)
      with timed(phases, "checkpoints", clock):
        events.flush()  # the chunk's events are on disk before its checkpoint
        if done or _crossed(step, prev, loop.checkpoint_every):
          checkpoints.save(step, state)
          if program.restarts and not done:
            state = program.restart(state, step)
            chunks.clear()  # compiled against the old resources
    if precompiling is not None:  # finish() may evaluate: its programs are compiled once
      with timed(phases, "compiling", clock):  # (the other thread's compile events: not seen)
        precompiling.join()
  except KeyboardInterrupt:
    raise Interrupted(step, checkpoints.latest()) from None
  finally:
    bar.close()
  return Outcome(state, step, clock() - t0, last_row, final_eval,
                 timed_steps / timed_seconds if timed_steps else None, phases)


def _postfix(row: dict) -> dict:
  shown = {}
  for k, v in row.items():
    if k not in ("step", "seconds") and isinstance(v, (int, float)) and not isinstance(v, bool):
      shown[k] = f"{v:.4g}"
  return dict(list(shown.items())[:6])


def local(state):
  """``state`` whole on this process's first device: what evaluations and figures read. Across
  processes a collective (every process calls it); in one process, ``state`` itself."""
  if hosts.processes() == 1:
    return state
  return jax.device_put(hosts.to_host(state), jax.local_devices()[0])


def figure(program: Program, state, path: str, events: EventLog, tag: str, step: int) -> None:
  """The program's sample figure at ``path`` (written atomically), also in TensorBoard."""
  if not program.has_figure:
    return
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with files.atomic_output(path) as tmp:
    program.figure(state, tmp)
  events.image(tag, path, step)


def finish(program: Program, rundir: files.RunDir, loop: LoopConfig, outcome: Outcome,
           events: EventLog) -> dict:
  """The end-of-run files (also when a resumed run had nothing left to train): the sample figure,
  the learning curves, the final evaluation and eval.json. Returns the evaluation."""
  state, step, phases = local(outcome.state), outcome.step, outcome.phases
  if not hosts.is_main():
    return None
  with timed(phases, "figures"):
    figure(program, state, rundir.file("samples.png"), events, "samples", step)
    rows = rundir.read_metrics()
    if rows:
      with files.atomic_output(rundir.file("curves.png")) as tmp:
        program.curves(rows, tmp)
      events.image("curves", rundir.file("curves.png"), step)
  result = outcome.final_eval
  if loop.evaluate and result is None:
    with timed(phases, "evaluation"):
      evaluation = program.evaluate(state, step)
    result = None if evaluation is None else evaluation[1]
    if result is not None:
      events.scalars(step, result, "eval/", lists=False)
  if result is not None:
    rundir.write_eval(result)
  return result

