"""Starting, resuming and reopening runs: the run record (config.json), the lock, the checks done
before anything is written, the checkpoint to resume from, and one-line errors for a full disk.

    run = Run.new(method, "runs/x", settings=..., loop=LoopConfig(steps=1000))   # nothing written
    state, summary = train(run)                                                   # fresh
    state, summary = resume("runs/x", registry, steps=2000)                       # killed or extended
    run, program, state = reopen("runs/x", registry)                              # eval, sample

A state's config is a static field: a restored state takes it from the template, so a resume
extended by ``--steps`` (DQN: another total_steps) restores into the resized config's template.
"""

import dataclasses
import sys
import time
from typing import Any, Callable

from jaxrun import devices, errors, files, hosts, loop as loop_lib
from jaxrun.checkpoints import Checkpoints
from jaxrun.events import EventLog
from jaxrun.method import LoopConfig, Method, Program, Registry


def from_json(cls, d: dict):
  """A config dataclass from its JSON form (lists back to tuples); a field it does not know is an
  error naming it."""
  names = {f.name for f in dataclasses.fields(cls)}
  unknown = sorted(set(d) - names)
  if unknown:
    raise errors.RunDirectoryError(f"the saved {cls.__name__} has fields this version does not "
                                   f"know: {', '.join(unknown)}.")
  return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def tool_of(method: Method) -> str:
  return method.config.__module__.split(".")[0]


@dataclasses.dataclass
class Run:
  """Everything a run is, before and after it trains: its method, preset, settings, config, loop
  settings and the context they were loaded into."""

  out: str
  method: Method
  preset: str | None
  settings: Any
  config: Any
  loop: LoopConfig
  context: Any

  @classmethod
  def new(cls, method: Method, out: str | None = None, *, settings=None, preset: str | None = None,
          overrides: dict | None = None, config=None, loop: LoopConfig | None = None) -> "Run":
    """A run of ``method``, checked in the order a user reads the checks (the data or environment
    name, the config, the loop), with nothing written. ``config`` (already made) or the preset with
    ``overrides``."""
    settings = method.settings() if settings is None else settings
    out = method.out_for(settings) if out is None else out
    files.RunDir(out).check_usable()
    loop = LoopConfig() if loop is None else loop
    devices.deterministic_ops(loop.deterministic)  # both before loading starts JAX
    devices.make_cpu_devices(getattr(settings, "devices", 1))
    context = method.load(settings)
    if method.pin is not None:
      settings = method.pin(settings, context)
    if config is None:
      if preset is None and method.preset_for is not None:
        preset = method.preset_for(context, settings)
      if preset is not None and preset not in method.presets:
        raise ValueError(f"unknown preset {preset!r} for {method.name}; choose one of "
                         f"{', '.join(method.presets)}.")
      config = method.configure(context, settings, preset, dict(overrides or {}), loop.steps)
    elif overrides:
      raise ValueError("pass either a config or overrides of the preset, not both.")
    if method.check is not None:
      method.check(config, context, settings)
    loop = loop.resolved(method.loop_defaults(config, settings))
    return cls(out, method, preset, settings, config, loop, context)

  def record(self) -> dict:
    return {"tool": tool_of(self.method), "method": self.method.name, "preset": self.preset,
            "loop": dataclasses.asdict(self.loop), "settings": dataclasses.asdict(self.settings),
            "config": dataclasses.asdict(self.config)}

  @classmethod
  def load(cls, out: str, methods: Registry | Method, load_context: bool = True) -> "Run":
    """The run saved in ``out``, its context loaded again (``load_context``; without it the run
    can give its program's template and restore states, but not train or evaluate)."""
    record = files.RunDir(out).read_record()
    if isinstance(methods, Registry):
      method = methods.for_record(record, out)
    else:
      method = methods
      if record.get("method") != method.name:
        raise errors.RunDirectoryError(f"{out} holds a {record.get('method')} run, not {method.name}.")
    settings, loop = from_json(method.settings, record["settings"]), from_json(LoopConfig, record["loop"])
    devices.deterministic_ops(loop.deterministic)  # both before loading starts JAX
    devices.make_cpu_devices(getattr(settings, "devices", 1))
    context = method.load(settings) if load_context else None
    return cls(out, method, record.get("preset"), settings, from_json(method.config, record["config"]),
               loop, context)

  def program(self) -> Program:
    return self.method.build(self.context, self.settings, self.config, self.loop, self.out)


def _note(method: Method, text: str) -> None:
  if hosts.is_main():
    print(f"{tool_of(method)}: {text}", file=sys.stderr)


def committed(state):
  """``state`` with its arrays committed to the devices they are on (no copy). A fresh state is
  jit's uncommitted output and a restored one is committed, and XLA compiles the two as different
  programs (its sharding propagation options differ): a resume missed the compilation cache its
  run had filled. Committing both makes them one program."""
  import jax

  return jax.tree.map(lambda x: jax.device_put(x, x.sharding)
                      if isinstance(x, jax.Array) and not x.committed else x, state)


def _train(run: Run, rundir: files.RunDir, program: Program, state, checkpoints: Checkpoints,
           progress: bool, on_chunk, clock, seconds_before: float = 0.0,
           purge_step: int | None = None, restored: bool = False, start: dict | None = None,
           ahead=None):
  """The loop and the end-of-run files. A resume purges TensorBoard's events from ``purge_step``
  on (the step after its checkpoint); ``restored``: the state came from a checkpoint; ``start``:
  the seconds spent building the state (init or restore), for the summary's phases; ``ahead``:
  the thread compiling the first chunk (:func:`jaxrun.loop.compile_ahead`)."""
  events = EventLog(rundir.path, purge_step, enabled=hosts.is_main())
  state = committed(state)
  try:
    outcome = loop_lib.run_chunks(program, rundir, checkpoints, run.loop, state, events=events,
                                  progress=progress, on_chunk=on_chunk, clock=clock,
                                  seconds_before=seconds_before, resumed=restored, ahead=ahead)
    result = loop_lib.finish(program, rundir, run.loop, outcome, events)
    with loop_lib.timed(outcome.phases, "checkpoints", clock):
      checkpoints.wait()  # the final checkpoint, written while finish() ran
    events.close()  # flushes: a full disk here is reported like any other
  except errors.RunError:
    raise
  except Exception as e:
    cause = errors.disk_full_cause(e)
    if cause is None:  # not the user's input: keep the traceback
      raise errors.TrainingFailed(f"training failed ({type(e).__name__}: {e}); the last "
                                  f"checkpoint is step {checkpoints.latest()}.") from e
    raise errors.disk_full(getattr(cause, "filename", None) or rundir.path,
                           checkpoints.latest()) from None
  finally:  # best effort: an error here must not hide the one that got us here
    for close in (events.close, checkpoints.close, program.close):
      try:
        close()
      except Exception:  # noqa: BLE001
        pass
    rundir.unlock()
  phases = {**(start or {}), **outcome.phases}
  summary = {"step": outcome.step, "seconds": outcome.seconds, "last": outcome.last_row,
             "phases": {k: round(v, 3) for k, v in phases.items()}}
  if outcome.steps_per_s is not None:  # absent when every chunk compiled
    summary["steps_per_s"] = outcome.steps_per_s
  if result is not None:
    summary["eval"] = result
  return outcome.state, summary


def train(run: Run, *, progress: bool = True, on_chunk: Callable | None = None,
          clock: Callable = time.perf_counter) -> tuple[Any, dict]:
  """Trains a new run in ``run.out``; returns (final state, summary: step, seconds, steps_per_s,
  the last metrics row, eval). ``on_chunk(step, state, metrics)`` is called after every chunk and
  may return a replacement (state, metrics)."""
  rundir = files.RunDir(run.out)
  main = hosts.is_main()  # of several processes, process 0 alone writes the run's files
  if main:
    rundir.lock()
  try:
    held = rundir.run_files()
    if held:
      raise errors.RunDirectoryError(f"{run.out} already holds a run ({', '.join(held)}); pass "
                                     "--resume to continue it or choose another --out.")
    hosts.barrier("jaxrun-checked")  # every process has looked before process 0 writes
    program = run.program()
    try:
      ahead = loop_lib.compile_ahead(program, run.loop)  # while the state and the data are made
      t = clock()
      state = program.init()
      start = {"init": clock() - t}
      if main:
        rundir.write_record(run.record())
    except BaseException:
      program.close()
      raise
  except BaseException:
    rundir.unlock()
    raise
  checkpoints = Checkpoints(rundir.checkpoints, run.loop.keep_checkpoints, program.async_checkpoints)
  return _train(run, rundir, program, state, checkpoints, progress, on_chunk, clock, start=start,
                ahead=ahead)


def resume(out: str, methods: Registry | Method, *, steps: int | None = None, progress: bool = True,
           on_chunk: Callable | None = None, clock: Callable = time.perf_counter) -> tuple[Any, dict]:
  """Continues the run in ``out`` from its newest checkpoint that restores (from step 0 when it has
  none) to its saved length, or to ``steps`` (not fewer than it has done); finishes what a kill
  left undone at the end (figures, evaluation, eval.json)."""
  run = Run.load(out, methods)
  rundir = files.RunDir(out)
  main = hosts.is_main()  # of several processes, process 0 alone writes the run's files
  if main:
    rundir.lock()
  checkpoints = program = None
  try:
    if steps is not None and steps != run.loop.steps:  # (same shapes: the template still fits)
      run.config = run.method.resize(run.config, steps=steps)
      run.loop = dataclasses.replace(run.loop, steps=steps)
    program = run.program()
    checkpoints = Checkpoints(rundir.checkpoints, run.loop.keep_checkpoints,
                              program.async_checkpoints)
    # (for the newest checkpoint: where it does not restore, the chunk is compiled again)
    ahead = loop_lib.compile_ahead(program, run.loop, checkpoints.latest() or 0)
    t = clock()
    step, state, notes, passed = checkpoints.restore_latest(program.template(), loop_lib.all_finite)
    if step is None and passed:
      raise errors.RunError(f"no checkpoint of {out} restores ({'; '.join(notes)}); start a new "
                            "run in another --out.")
    if steps is not None and steps < (step or 0):
      raise ValueError(f"{out} is already at step {step}; --steps must be at least that to resume "
                       f"it (got {steps}).")
    if step is None:
      _note(run.method, f"{out} has no checkpoint yet: starting from step 0 with its saved config.")
      state = program.init()
    start = {"restore" if step is not None else "init": clock() - t}
    for note in notes:
      _note(run.method, f"{note}; it is set aside in checkpoints-damaged/.")
    if notes:
      _note(run.method, f"resuming from checkpoint {step}.")
    hosts.barrier("jaxrun-restored")  # every process has read before process 0 moves any
    kept = []
    if main:
      checkpoints.set_aside(passed)
      kept = rundir.truncate_metrics(step or 0)
      rundir.write_record(run.record())  # the same record, unless --steps changed its length
  except BaseException:
    for resource in (checkpoints, program):
      if resource is not None:
        resource.close()
    rundir.unlock()
    raise
  seconds_before = kept[-1].get("seconds", 0.0) if kept else 0.0
  return _train(run, rundir, program, state, checkpoints, progress, on_chunk, clock,
                seconds_before, purge_step=(step or 0) + 1, restored=step is not None, start=start,
                ahead=ahead)


def reopen(out: str, methods: Registry | Method, step: int | None = None,
           load_context: bool = True) -> tuple[Run, Program, Any]:
  """(run, program, state) of a saved run at its newest good checkpoint, or at ``step``: for
  evaluating and sampling, or (``load_context=False``) for the state alone, as a run that builds
  on another needs it. Nothing is written."""
  run = Run.load(out, methods, load_context)
  program = run.program()
  checkpoints = Checkpoints(files.RunDir(out).checkpoints, run.loop.keep_checkpoints)
  try:
    if step is not None:
      state = checkpoints.restore(step, program.template())
    else:
      step, state, notes, _ = checkpoints.restore_latest(program.template(), loop_lib.all_finite)
      if step is None:
        raise FileNotFoundError(f"{out} has no checkpoint that restores"
                                f"{' (' + '; '.join(notes) + ')' if notes else ' yet'}.")
      for note in notes:
        _note(run.method, f"{note}; using checkpoint {step}.")
  finally:
    checkpoints.close()
  return run, program, state
