"""jaxrun: the run layer both jaxgan and jaxrl train through. It imports no algorithm, dataset or
environment; methods import it.

  method.py       Method (what a method tells the layer), Program (what the loop drives), LoopConfig,
                  Registry (a tool's methods, imported when asked for)
  run.py          new / resume / reopen a run: the record (config.json), the lock, the checks made
                  before anything is written, the checkpoint to resume from
  loop.py         the chunk loop: compiled chunks, NaN guard, progress, timing, the evaluation /
                  sample / checkpoint schedule, the end-of-run files
  checkpoints.py  orbax checkpoints restored from abstract shapes, falling back past damaged ones
  files.py        the run directory: atomic writes, metrics.jsonl, the lock
  events.py       TensorBoard event files
  cli.py          the tyro command line built from each method's configs; one-line errors
  keys.py         the run's random streams; plots.py, conv.py: helpers both families use
  aggregate.py    over runs: interquartile mean, stratified bootstrap intervals (rliable)
  sweeps.py       --sweep FIELD=V1,V2: parsed against a method's sweepable fields, the grid
  devices.py      CPU devices for --devices, --deterministic, independent runs split over devices
  hosts.py        several processes (jax.distributed): which writes, arrays across processes
  threefry.py     the random-number hash lowered unrolled on CPU (same bits, faster)

    from jaxrun import run
    r = run.Run.new(method, "runs/x", settings=..., loop=LoopConfig(steps=1000))
    state, summary = run.train(r)
"""

from jaxrun.errors import RunDirectoryError, RunError, TrainingDivergedError
from jaxrun.method import LoopConfig, Method, Program, Registry

__all__ = ["LoopConfig", "Method", "Program", "Registry", "RunDirectoryError", "RunError",
           "TrainingDivergedError"]
