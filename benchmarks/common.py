"""Shared by the benchmark scripts: machine description and result files (JSON + markdown)."""

import json
import os
import platform
import shlex
import subprocess
import sys

import jax
import numpy as np

from jaxrun import threefry  # noqa: E402

# The benchmarks time what the command line runs, which lowers threefry unrolled on CPU (the same
# bits; jaxrun/threefry.py). benchmarks/dqn_profile.py --rolled-threefry measures the difference.
threefry.unroll_on_cpu()

RESULTS = os.path.join(os.path.dirname(__file__), "results")


def machine() -> dict:
  cpu = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
  except (OSError, StopIteration):
    pass
  devices = jax.devices()
  return {"cpu": cpu, "cores": os.cpu_count(), "platform": devices[0].platform,
          "devices": len(devices), "device_kind": devices[0].device_kind,
          "jax": jax.__version__, "python": platform.python_version()}


def command() -> str:
  return " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0])] + sys.argv[1:])


def write(name: str, result: dict, table: list[dict], notes: str = "") -> str:
  """Writes results/NAME.json and results/NAME.md (a table of ``table`` rows); returns the markdown."""
  os.makedirs(RESULTS, exist_ok=True)
  result = {"command": f"python {command()}", "machine": machine(), **result, "table": table}
  with open(os.path.join(RESULTS, f"{name}.json"), "w") as f:
    json.dump(result, f, indent=2)
  cols = list(dict.fromkeys(k for row in table for k in row))  # every row's keys, first seen first
  lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
  lines += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in table]
  m = result["machine"]
  md = "\n".join([f"Command: `{result['command']}`", "",
                  f"Machine: {m['cpu']}, {m['cores']} cores; {m['devices']} x {m['device_kind']} "
                  f"({m['platform']}); jax {m['jax']}", "", *lines, "", notes]).strip() + "\n"
  with open(os.path.join(RESULTS, f"{name}.md"), "w") as f:
    f.write(md)
  return md


def config_fields(parser, items: list[str], flag: str) -> dict:
  """{field: value} from ``FIELD=VALUE`` arguments with JSON values (true, 3e-4, 10)."""
  fields = {}
  for item in items:
    field, _, value = item.partition("=")
    try:
      fields[field] = json.loads(value)
    except json.JSONDecodeError:
      parser.error(f"{flag} takes FIELD=VALUE with a JSON value (true, 3e-4, 10), got {item!r}")
  return fields


def iqm_cell(agg: dict, digits: int = 2) -> str:
  """A table cell of ``jaxrun.aggregate.summary``: "IQM [low, high]" (no interval for one run)."""
  ci = agg.get("iqm_ci95")
  return f"{agg['iqm']:.{digits}f}" + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")


def mean_sd_cell(values, digits: int = 3, ddof: int = 0) -> str:
  """A table cell "mean ± standard deviation" (``ddof=1``: the sample standard deviation)."""
  return f"{np.mean(values):.{digits}g} ± {np.std(values, ddof=ddof):.2g}"


def _fmt(v) -> str:
  if isinstance(v, float):
    return f"{v:.4g}"
  return "" if v is None else str(v)


def alternated(sides, rounds: int):
  """(side, round) pairs: every side once per round, the order reversed every other round."""
  order = list(sides)
  for r in range(rounds):
    for side in (order if r % 2 == 0 else order[::-1]):
      yield side, r


def run_peer(python: str, script: str, *args: str) -> dict | None:
  """Runs a peer implementation in ``python`` (another environment, e.g. one with PyTorch); its
  last stdout line is a JSON object. None (with a message) when it cannot run."""
  path = os.path.join(os.path.dirname(__file__), "peers", script)
  proc = subprocess.run([python, path, *args], capture_output=True, text=True)
  if proc.returncode != 0:
    print(f"peer {script} did not run: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
    return None
  return json.loads(proc.stdout.strip().splitlines()[-1])
