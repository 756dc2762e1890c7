"""What a method tells the run layer, and the registry of a tool's methods.

A method is one :class:`Method` object, defined at the end of its own module: its config class
and presets, the settings a run of it needs (the dataset or environment, the runs it builds on),
and ``build``, which returns the :class:`Program` the loop drives. The loop never asks which
method it runs; a new method is one module and one line in its tool's :class:`Registry`.

This module imports nothing heavy (no JAX), so a registry can list its methods at once.
"""

import dataclasses
import importlib
from typing import Any, Callable

from jaxrun.errors import RunDirectoryError


@dataclasses.dataclass(frozen=True)
class LoopConfig:
  """How the loop runs (every count in the method's own steps: generator iterations for the GANs,
  environment steps per seed for DQN). None takes the method's default."""

  steps: int | None = None             # length of the run
  seed: int = 0                        # every random stream of the run derives from it
  log_every: int | None = None         # steps per jitted chunk: metrics, progress and the NaN check between chunks
  sample_every: int | None = None      # steps between sample figures (0: only at the end)
  eval_every: int | None = None        # steps between evaluations (0: only at the end)
  checkpoint_every: int | None = None  # steps between checkpoints (and one at the end)
  keep_checkpoints: int | None = None  # how many of the newest checkpoints are kept
  evaluate: bool = True                # evaluate (eval_every, and eval.json at the end)
  deterministic: bool = False          # XLA's deterministic GPU kernels (no algorithm picked by timing, no atomics), at some speed (6-19% on an H200); CPU runs are deterministic anyway

  def resolved(self, defaults: dict) -> "LoopConfig":
    """Every None replaced by ``defaults``, then checked."""
    loop = dataclasses.replace(self, **{k: v for k, v in defaults.items() if getattr(self, k) is None})
    missing = [f.name for f in dataclasses.fields(loop) if getattr(loop, f.name) is None]
    if missing:
      raise ValueError(f"no value for {', '.join(missing)}.")
    for name, least in (("steps", 1), ("log_every", 1), ("sample_every", 0), ("eval_every", 0),
                        ("checkpoint_every", 1), ("keep_checkpoints", 1)):
      if getattr(loop, name) < least:
        raise ValueError(f"{name} must be >= {least}, got {getattr(loop, name)}.")
    return loop


class Program:
  """One run of a method as the loop drives it: built by :attr:`Method.build` for a config, its
  data or environments and its loop settings. Override what the method needs."""

  unit = "step"                 # the progress bar's unit
  steps_name = "steps"          # what a step is, in messages
  description = ""              # the progress bar's label
  steps_per_iteration = 1       # the method's steps per iteration of its scan
  has_figure = False            # figure() draws a sample figure
  evaluates_into_rows = False   # evaluate() gives fields for the metrics rows
  restarts = False              # restart() renews what a checkpoint cannot hold (a C++ pool)
  async_checkpoints = True      # written while training goes on (a second copy of the state meanwhile)

  def init(self) -> Any:
    """The fresh state of the run (seeded from the loop's seed)."""
    raise NotImplementedError

  def template(self) -> Any:
    """The state's structure, shapes and dtypes, allocating nothing (restore reads into it)."""
    import jax

    return jax.eval_shape(self.init)

  def step(self, state) -> int:
    """The method's steps done by ``state``."""
    raise NotImplementedError

  def make_chunk(self, iterations: int) -> Callable:
    """``chunk(state) -> (state, metrics)``: ``iterations`` iterations, jitted (the loop keeps one
    per length)."""
    raise NotImplementedError

  def rows(self, step: int, iterations: int, metrics: dict, seconds: float) -> list[dict]:
    """The metrics.jsonl rows of a chunk that started at ``step`` (host ``metrics``)."""
    raise NotImplementedError

  def watch(self, state, metrics) -> Any:
    """What must stay finite (the NaN guard checks its floating-point leaves)."""
    return state, metrics

  def evaluate(self, state, step: int) -> tuple[dict, dict] | None:
    """(fields for the step's metrics row, the result for eval.json); None: nothing to evaluate."""
    return None

  def compile_chunk(self, iterations: int) -> None:
    """Compiles the chunk of ``iterations`` (:meth:`make_chunk`) before the state and the data
    exist, for the state the loop will pass (:meth:`template`'s shapes, as
    :func:`jaxrun.devices.on_first_device` commits them), so that the chunk's first call finds it
    compiled. The run layer calls it for a run's first chunk (a new run's, or a resumed run's
    from its newest checkpoint) on a thread of its own while :meth:`init` runs or the checkpoint
    is restored, and the data is made. Nothing by default."""

  def precompile(self, state) -> None:
    """Compiles programs the run needs later (its evaluation) ahead of their first use, for the
    abstract ``state`` (shapes and dtypes). The loop calls it on a thread of its own
    while the first chunk trains, so on a CPU with a core to spare the compilation costs no wall
    time. Nothing by default."""

  def figure(self, state, path: str) -> None:
    """(``has_figure`` only) draws a sample figure (PNG) to ``path``."""

  def curves(self, rows: list[dict], path: str) -> None:
    from jaxrun import plots

    plots.learning_curves(rows, path)

  def restart(self, state, step: int):
    """(``restarts`` only) the state continued on renewed outside resources at ``step``."""
    return state

  def close(self) -> None:
    pass


def _same(config, **kw):
  return config


@dataclasses.dataclass(frozen=True)
class Method:
  """A method as the run layer and the command line see it.

  ``load(settings) -> context`` loads what a run is on (data, environment, the runs it builds on);
  an unknown name fails here, before any check that depends on it. ``pin(settings, context) ->
  settings`` records what ``load`` resolved (the checkpoint of a run it builds on), so that a
  resume loads the same. ``preset_for(context,
  settings) -> name`` picks the preset when none is asked for. ``configure(context, settings,
  preset, overrides, steps) -> config``: the preset with ``overrides`` (config field -> value)
  applied; ``steps`` is the loop's length when one was given. ``check(config, context, settings)``
  checks a config against the context (also one made by the caller). ``build(context, settings,
  config, loop, out) -> Program``. ``loop_defaults(config, settings) -> dict`` fills the loop
  settings left None. ``resize(config, steps=...)``: the config of a resumed run extended to
  ``steps``.
  """

  name: str
  summary: str
  config: type
  settings: type
  load: Callable
  configure: Callable
  build: Callable
  loop_defaults: Callable
  presets: tuple[str, ...] = ()
  pin: Callable | None = None
  preset_for: Callable | None = None
  check: Callable | None = None
  derived: tuple[str, ...] = ()   # config fields set from the context or the loop, not flags
  aliases: dict = dataclasses.field(default_factory=dict)  # config field -> more flag spellings
  resize: Callable = _same
  default_out: Callable | None = None  # settings -> the run directory when --out is not given
  examples: Callable | None = None     # () -> {preset: config} for --help (default context)

  def out_for(self, settings) -> str:
    return self.default_out(settings) if self.default_out else f"runs/{self.name}"


class Registry:
  """The methods of one tool, imported when first asked for: ``{name: (module, summary)}``, the
  module defining ``METHOD``."""

  def __init__(self, tool: str, entries: dict[str, tuple[str, str]], other_tools: dict | None = None):
    self.tool, self.entries = tool, dict(entries)
    self.other_tools = other_tools or {}   # method name -> the tool that has it (for messages)

  def names(self) -> list[str]:
    return list(self.entries)

  def __contains__(self, name: str) -> bool:
    return name in self.entries

  def get(self, name: str) -> Method:
    if name not in self.entries:
      raise ValueError(f"unknown method {name!r}; {self.tool} has: {', '.join(self.entries)}.")
    method = importlib.import_module(self.entries[name][0]).METHOD
    assert method.name == name, (method.name, name)
    return method

  def for_record(self, record: dict, path: str) -> Method:
    """The method of a saved run, or a clear error when another tool wrote it."""
    tool, name = record.get("tool"), record.get("method")
    if tool != self.tool or name not in self.entries:
      other = tool or self.other_tools.get(name)
      hint = f"; use `{other} ...`" if other and other != self.tool else ""
      raise RunDirectoryError(f"{path} holds a {other or 'different'} {name or ''} run, not one "
                              f"of {self.tool}'s ({', '.join(self.entries)}){hint}.")
    return self.get(name)
