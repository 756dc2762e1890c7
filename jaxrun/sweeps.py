"""``--sweep FIELD=V1,V2,...``: the grid of hyperparameter values a run trains in one program.

A method lists the config fields it can sweep (those that change no array shape and no code, which
its step reads from per-run arrays of the state) with the type of their values, and why some
others cannot be swept; :func:`parse` checks a command line's sweeps against them and
:func:`grid` makes every combination's config.
"""

import dataclasses
import itertools


def parse(specs, sweepable: dict[str, type], fixed: dict[str, str] | None = None,
          config=None, method: str = "") -> dict[str, tuple]:
  """``("learning_rate=1e-4,1e-3", "gamma=0.98,0.99")`` -> {field: values}, in the order given.
  ``sweepable``: field -> the type of its values; ``fixed``: field -> why it cannot be swept;
  ``config``: the config class (to tell its other fields from unknown names). Bad input fails
  here, naming --sweep."""
  specs = tuple(specs)
  if specs and not sweepable:
    raise ValueError(f"--sweep: {method or 'this method'} has no sweepable hyperparameters yet; "
                     "train one run per value.")
  out = {}
  for spec in specs:
    name, sep, listed = spec.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name:
      raise ValueError(f"--sweep {spec!r}: write FIELD=V1,V2,... (for example "
                       f"--sweep {next(iter(sweepable))}=V1,V2).")
    if name not in sweepable:
      known = {f.name for f in dataclasses.fields(config)} if config is not None else set()
      why = (f"{name} cannot be swept: {(fixed or {}).get(name, 'its step does not read it per run')}"
             if name in known else f"{name} is not a hyperparameter of {method or 'this method'}")
      raise ValueError(f"--sweep {spec!r}: {why}. Sweepable: {', '.join(sweepable)}.")
    if name in out:
      raise ValueError(f"--sweep lists {name} twice; give all its values in one FIELD=V1,V2.")
    items = [v.strip() for v in listed.split(",") if v.strip()]
    if not items:
      raise ValueError(f"--sweep {spec!r} lists no values; write {name}=V1,V2,...")
    try:
      values = tuple(sweepable[name](v) for v in items)
    except ValueError:
      raise ValueError(f"--sweep {spec!r}: {name} takes {sweepable[name].__name__} values, "
                       f"got {listed!r}.") from None
    if len(set(values)) < len(values):
      raise ValueError(f"--sweep {spec!r} lists a value twice.")
    out[name] = values
  return out


def grid(config, sweep: dict[str, tuple]) -> list[tuple[dict, object]]:
  """Every combination of the swept values (the first field varying slowest) as (its values, the
  config with them); each config checks its values as it is made. No sweep: [({}, config)]."""
  combos = [dict(zip(sweep, values)) for values in itertools.product(*sweep.values())]
  return [(combo, dataclasses.replace(config, **combo)) for combo in combos]


def refuse_overrides(sweep: dict, overrides: dict) -> None:
  """A field given both as a flag and in --sweep is refused by name."""
  both = sorted(set(sweep) & set(overrides))
  if both:
    raise ValueError(f"{', '.join('--' + n.replace('_', '-') for n in both)} and --sweep over "
                     f"{', '.join(both)} both given; keep one.")


def label(combo: dict) -> str:
  """``learning_rate=0.001 gamma=0.99``: a configuration's name in figures."""
  return " ".join(f"{k}={v:g}" for k, v in combo.items())
