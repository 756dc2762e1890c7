"""The command line, built from the configs with tyro (CleanRL's convention).

``TOOL train METHOD [flags]``: each method is its own subcommand with only its own flags: the loop
settings, the method's settings (data or environment) and every field of its config (but those
the data sets), each flag's help the field's comment. ``--preset NAME`` picks a paper preset; a
config flag given overrides the preset. A flag of another method is an error naming this
method's flags. ``--resume`` continues the run in ``--out``: flags that disagree with the saved run
are refused by name, ``--steps`` may extend it. Every failure a user can act on is one line.
"""

import dataclasses
import inspect
import io
import json
import os
import shlex
import sys
import textwrap
import time
import tokenize
import types
import typing
from typing import Annotated, Any, Callable

from jaxrun import errors
from jaxrun.method import LoopConfig, Method, Registry


# ---- flags from dataclass fields ------------------------------------------------------------------


def field_comments(cls) -> dict[str, str]:
  """The comment after each field in a dataclass's source (continued on comment-only lines below
  it at the same column), base classes' fields included."""
  out = {}
  for klass in reversed(cls.__mro__):
    if dataclasses.is_dataclass(klass):
      out.update(_own_comments(klass))
  return out


def _own_comments(cls) -> dict[str, str]:
  try:
    source = textwrap.dedent(inspect.getsource(cls))
  except (OSError, TypeError):
    return {}
  names = {f.name for f in dataclasses.fields(cls)}
  out, depth, line_start, current, column = {}, 0, True, None, None
  for tok in tokenize.generate_tokens(io.StringIO(source).readline):
    if tok.type == tokenize.INDENT:
      depth += 1
    elif tok.type == tokenize.DEDENT:
      depth -= 1
    elif tok.type == tokenize.NAME and line_start and depth == 1:
      current, column = (tok.string, None) if tok.string in names else (None, None)
    elif tok.type == tokenize.COMMENT and current is not None:
      text = tok.string.lstrip("#").strip()
      if column is None and tok.line.strip() != tok.string.strip():  # inline, after the field
        out[current], column = text, tok.start[1]
      elif column is not None and tok.start[1] == column:  # its continuation
        out[current] += " " + text
      else:
        current = None
    line_start = tok.type in (tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT,
                              tokenize.COMMENT) and (line_start or tok.type != tokenize.COMMENT)
  return out


def _inner(tp):
  """``X`` of ``X | None``."""
  if typing.get_origin(tp) in (typing.Union, types.UnionType):
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if len(args) == 1 else tp
  return tp


def _metavar(tp) -> str | None:
  tp = _inner(tp)
  if typing.get_origin(tp) is tuple:
    args = typing.get_args(tp)
    if len(args) == 2 and args[1] is Ellipsis:
      return f"{_metavar(args[0])} [{_metavar(args[0])} ...]"
    return " ".join(_metavar(a) for a in args)
  return {int: "INT", float: "FLOAT", str: "STR", bool: None}.get(tp, None)


def flag(name: str) -> str:
  return "--" + name.replace("_", "-")


def _show(value) -> str:
  if isinstance(value, tuple):
    return " ".join(map(str, value))
  return str(value)


@dataclasses.dataclass(frozen=True)
class Flag:
  name: str        # the field it sets
  group: str       # loop | settings | config | command
  type: Any
  default: Any
  help: str
  aliases: tuple[str, ...] = ()
  hint: str | None = None   # what --help says of the default (None: tyro's "(default: X)")
  repeatable: bool = False  # a tuple given one item per flag (--sweep A --sweep B); the field's metadata
  metavar: str | None = None  # the field's metadata, else from its type

  @property
  def flags(self) -> tuple[str, ...]:
    own = (flag(self.name),) + self.aliases
    if self.type is bool:
      own += tuple("--no-" + f[2:] for f in own)
    return own


def _default_hint(default, presets: dict) -> str | None:
  """"(default: X; PRESET: Y, ...)" naming the presets that differ from the class default."""
  differ = [f"{n}: {_show(v)}" for n, v in presets.items() if v != default]
  if not differ:
    return None if default is not None else ""
  return f"(default: {_show(default)}; {'; '.join(differ)})"


def _fields(cls, group: str, skip=(), preset_values=None, aliases=None) -> list[Flag]:
  """A flag per field of ``cls``; ``preset_values`` {field: {preset: value}} for the help."""
  comments, types_ = field_comments(cls), typing.get_type_hints(cls)
  out = []
  for f in dataclasses.fields(cls):
    if f.name in skip:
      continue
    default = f.default if f.default is not dataclasses.MISSING else None
    hint = _default_hint(default, (preset_values or {}).get(f.name, {}))
    out.append(Flag(f.name, group, types_[f.name], default, comments.get(f.name, ""),
                    tuple((aliases or {}).get(f.name, ())), hint, f.metadata.get("repeatable", False),
                    f.metadata.get("metavar")))
  return out


def train_flags(method: Method, presets: dict | None = None) -> list[Flag]:
  """Every flag of ``TOOL train METHOD``. ``presets``: {name: config}, whose values --help shows
  where they differ from the defaults."""
  presets = presets or {}
  config_values = {f.name: {n: getattr(c, f.name) for n, c in presets.items()}
                   for f in dataclasses.fields(method.config)}
  loop_defaults = {n: method.loop_defaults(c, method.settings()) for n, c in presets.items()}
  loop_values = {}
  for f in dataclasses.fields(LoopConfig):
    if f.default is None and loop_defaults:
      values = {n: d.get(f.name) for n, d in loop_defaults.items()}
      first = next(iter(values.values()))
      loop_values[f.name] = (f"(default: {_show(first)})" if len(set(map(str, values.values()))) == 1
                             else "(default: " + "; ".join(f"{n}: {_show(v)}" for n, v in values.items()) + ")")
  command = [
      Flag("out", "command", str | None, None, "run directory", hint="(default: "
           f"{method.out_for(method.settings())} for the default settings)"),
      Flag("resume", "command", bool, False, "continue the run in --out from its newest good "
           "checkpoint (its config.json rules; --steps may extend it)"),
      Flag("progress", "command", bool, True, "show a progress bar"),
      Flag("coordinator", "command", str | None, None, "HOST:PORT of process 0, to train one run "
           "over several processes (one per host) with jax.distributed: every process runs the same "
           "command with its own --process-id, and process 0 writes the run directory (under srun "
           "or a multi-host TPU slice JAX finds the processes itself)", hint=""),
      Flag("num_processes", "command", int | None, None, "the processes of a --coordinator run",
           hint=""),
      Flag("process_id", "command", int | None, None, "this process's index (0 ... N-1) in a "
           "--coordinator run", hint=""),
  ]
  if method.presets:
    command.append(Flag("preset", "command", str | None, None,
                        f"the paper preset: {', '.join(method.presets)}",
                        hint="(default: chosen for the data or environment)"))
  loop = [dataclasses.replace(f, hint=loop_values.get(f.name, f.hint))
          for f in _fields(LoopConfig, "loop", aliases={"log_every": ("--chunk-steps",)})]
  return (command + _fields(method.settings, "settings") + loop
          + _fields(method.config, "config", skip=method.derived, preset_values=config_values,
                    aliases=method.aliases))


def _dataclass(name: str, flags: list[Flag]):
  import tyro

  fields = []
  for f in flags:
    arg = tyro.conf.arg(help=f.help or None, aliases=f.aliases or None,
                        metavar=f.metavar or _metavar(f.type), help_behavior_hint=f.hint)
    kind = Annotated[f.type, arg, tyro.conf.UseAppendAction] if f.repeatable else Annotated[f.type, arg]
    fields.append((f.name, kind, dataclasses.field(default=f.default)))
  return dataclasses.make_dataclass(name, fields, frozen=True)


def given(flags: list[Flag], argv: list[str]) -> set[str]:
  """The fields whose flags appear in ``argv``."""
  names = {}
  for f in flags:
    for spelled in f.flags:
      names[spelled] = f.name
  return {names[a.split("=", 1)[0]] for a in argv if a.split("=", 1)[0] in names}


def unknown_flags(flags: list[Flag], argv: list[str]) -> list[str]:
  known = {s for f in flags for s in f.flags} | {"-h", "--help"}
  return [a.split("=", 1)[0] for a in argv if a.startswith("--") and a.split("=", 1)[0] not in known]


def parse(prog: str, flags: list[Flag], argv: list[str], description: str = ""):
  """(values of every flag, the fields given on the command line)."""
  import tyro

  parsed = tyro.cli(_dataclass("Flags", flags), args=argv, prog=prog, description=description)
  return dataclasses.asdict(parsed), given(flags, argv)


# ---- train ----------------------------------------------------------------------------------------


def _jsonable(v):
  return json.loads(json.dumps(v))


# Flags of the command, not of the run: a resume may give them otherwise.
PER_PROCESS = ("out", "resume", "progress", "steps", "coordinator", "num_processes", "process_id")


def resume_conflicts(record: dict, method: Method, values: dict, given_: set[str],
                     flags: list[Flag]) -> list[str]:
  """The given flags that disagree with the saved run, as '--flag VALUE (saved: VALUE)'."""
  saved = {"loop": record["loop"], "settings": record["settings"], "config": record["config"],
           "command": {"preset": record.get("preset")}}
  out = []
  if record.get("method") != method.name:
    out.append(f"method {method.name} (saved: {record.get('method')})")
  for f in flags:
    if f.name not in given_ or f.name in PER_PROCESS:
      continue
    if _jsonable(values[f.name]) != saved[f.group].get(f.name):
      out.append(f"{flag(f.name)} {_show(values[f.name])} (saved: {_show(saved[f.group].get(f.name))})")
  return out


def train_command(tool: str, registry: Registry, name: str, argv: list[str],
                  started: float | None = None) -> int:
  """``TOOL train NAME ARGV``; ``started``: when the command began (perf_counter), for the line
  of phases printed at the end."""
  started = time.perf_counter() if started is None else started
  from jaxrun import run as run_lib

  method = registry.get(name)
  presets = method_presets(method) if any(a in ("-h", "--help") for a in argv) else None
  flags = train_flags(method, presets)
  bad = unknown_flags(flags, argv)
  if bad:
    raise ValueError(_unknown_message(tool, registry, method, bad, flags))
  values, given_ = parse(f"{tool} train {name}", flags, argv, method.summary)
  pick = lambda group: {f.name: values[f.name] for f in flags if f.group == group}
  settings = method.settings(**pick("settings"))
  out = values["out"] or method.out_for(settings)
  from jaxrun import hosts, threefry
  hosts.initialize(values["coordinator"], values["num_processes"], values["process_id"])
  threefry.unroll_on_cpu()  # the same bits, faster on CPU (jaxrun/threefry.py)
  try:
    if values["resume"]:
      record = run_lib.files.RunDir(out).read_record()
      conflicts = resume_conflicts(record, method, values, given_, flags)
      if conflicts:
        raise ValueError(f"--resume continues {out} as it was saved, and these flags disagree with "
                         f"it: {', '.join(conflicts)}; drop them, or start a new run in another --out.")
      steps = values["steps"] if "steps" in given_ else None
      _, summary = run_lib.resume(out, registry, steps=steps, progress=values["progress"])
    else:
      loop = LoopConfig(**pick("loop"))
      overrides = {f.name: values[f.name] for f in flags if f.group == "config" and f.name in given_}
      run = run_lib.Run.new(method, out, settings=settings, preset=values.get("preset"),
                            overrides=overrides, loop=loop)
      _, summary = run_lib.train(run, progress=values["progress"])
  except KeyboardInterrupt as e:
    if os.path.exists(os.path.join(out, "config.json")):  # there is a run to continue
      e.resume_command = f"{tool} train {name} --out {shlex.quote(out)} --resume"
    raise
  summary["phases"] = {"set-up": time.perf_counter() - started - sum(summary["phases"].values()),
                       **summary["phases"]}
  if hosts.is_main():
    print(phase_line(tool, time.perf_counter() - started, summary["phases"]), file=sys.stderr)
    print(json.dumps({"out": out, **summary}, default=str))
  return 0


def phase_line(tool: str, total: float, phases: dict) -> str:
  """One line of where a command's seconds went: set-up (imports, data, building the program),
  init or restore, compiling (the chunks that compiled, with their steps), training, evaluation,
  figures, logs, checkpoints."""
  named = ", ".join(f"{k} {v:.1f} s" for k, v in phases.items() if v >= 0.05)
  return f"{tool}: {total:.1f} s: {named}"


def method_presets(method: Method) -> dict:
  """{preset: config for the default context}, for the help's preset values."""
  try:
    return method.examples() if method.examples is not None else {}
  except Exception:  # noqa: BLE001  (the help must not fail on an example)
    return {}


def _unknown_message(tool: str, registry: Registry, method: Method, bad: list[str],
                     flags: list[Flag]) -> str:
  owners = {}
  for other in registry.names():
    if other == method.name:
      continue
    try:
      other_flags = {s for f in train_flags(registry.get(other)) for s in f.flags}
    except Exception:  # noqa: BLE001
      continue
    for b in bad:
      if b in other_flags:
        owners.setdefault(b, []).append(other)
  said = [f"{b} (a flag of {', '.join(owners[b])})" if b in owners else b for b in bad]
  own = " ".join(sorted({flag(f.name) for f in flags}))
  return (f"{', '.join(said)} {'is not a flag' if len(bad) == 1 else 'are not flags'} of "
          f"`{tool} train {method.name}`; its flags: {own} (see --help).")


# ---- the tool's entry point -------------------------------------------------------------------------


def _usage(tool: str, description: str, registry: Registry, commands: dict) -> str:
  lines = [f"usage: {tool} train METHOD [flags] | {tool} {{{','.join(commands)}}} ... ", "",
           description.strip(), "", "methods (`" + tool + " train METHOD --help` for its flags):"]
  lines += [f"  {n:14s} {summary}" for n, (_, summary) in registry.entries.items()]
  lines += ["", "commands:"] + [f"  {n:14s} {c.__doc__.strip().splitlines()[0]}"
                                 for n, c in commands.items()]
  return "\n".join(lines) + "\n"


def main(tool: str, description: str, registry: Registry, commands: dict[str, Callable],
         argv: list[str] | None = None) -> int:
  """``TOOL train METHOD ...`` or ``TOOL COMMAND ...`` (``commands[COMMAND](argv)``); failures a user
  can act on are one line on stderr (exit 2 for bad input, 1 for a run that cannot go on, 130
  for an interrupt)."""
  started = time.perf_counter()
  real_process = argv is None  # a command line, not a call from Python
  argv = sys.argv[1:] if argv is None else list(argv)
  usage = _usage(tool, description, registry, commands)
  if not argv or argv[0] in ("-h", "--help"):
    print(usage, end="")
    return 0 if argv else 2
  command, rest = argv[0], argv[1:]
  try:
    if not any(a in ("-h", "--help") for a in rest):  # help imports no JAX
      from jaxrun import files
      files.use_compilation_cache()
    if command == "train":
      if not rest or rest[0] in ("-h", "--help") or rest[0].startswith("-"):
        print(usage, end="")
        return 0 if rest and rest[0] in ("-h", "--help") else 2
      if rest[0] not in registry:
        raise ValueError(f"unknown method {rest[0]!r}; {tool} trains: {', '.join(registry.names())}.")
      return train_command(tool, registry, rest[0], rest[1:], started)
    if command not in commands:
      raise ValueError(f"unknown command {command!r}; {tool} has: train, {', '.join(commands)}.")
    return commands[command](rest)
  except KeyboardInterrupt as e:
    step = getattr(e, "step", None)
    where = f" at step {step}" if step is not None else ""
    kept = getattr(e, "checkpoint", None)
    if step is not None:
      where += f" (last checkpoint: {'none yet' if kept is None else 'step ' + str(kept)})"
    resume_cmd = getattr(e, "resume_command", None)
    print(f"{tool}: interrupted{where}" + (f"; continue with: {resume_cmd}" if resume_cmd else "."),
          file=sys.stderr)
    if real_process:
      # After an interrupt the interpreter's teardown can abort in a native thread pool (seen:
      # "terminate called after throwing ... FATAL: exception not rethrown", exit -6). The run
      # directory is consistent and the lock goes with the process: leave without the teardown.
      sys.stdout.flush()
      sys.stderr.flush()
      os._exit(130)
    return 130
  except errors.TrainingDivergedError as e:
    print(f"{tool}: {e}", file=sys.stderr)
    return 1
  except errors.RunError as e:
    print(f"{tool}: error: {e}", file=sys.stderr)
    return 1
  except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, ImportError,
          errors.NotPreparedError) as e:
    print(f"{tool} {command}: error: {e}", file=sys.stderr)
    return 2
  except OSError as e:
    cause = errors.disk_full_cause(e)
    if cause is not None:
      path = getattr(cause, "filename", None) or "."
      print(f"{tool}: error: {errors.disk_full(path, None, during_training=False)}", file=sys.stderr)
      return 1
    what = f" {e.filename}" if e.filename else ""
    print(f"{tool} {command}: error: cannot write{what}: {e.strerror or e}; choose a writable "
          "place (--out).", file=sys.stderr)
    return 2
