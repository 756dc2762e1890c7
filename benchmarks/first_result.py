"""Time to a first text-to-image result, as a new user types it (issue 15, item 6).

Runs the commands of the README's text-to-image path in fresh processes, with a fresh user cache
(``JAXGAN_CACHE``: the attribute-classifier instrument and caption embeddings a first run makes):

1. ``jaxgan train text-encoder --dataset shapes --image-size 32 --steps 200``
2. ``jaxgan train stackgan --stage 1 --dataset shapes --image-size 32 --text-encoder DIR --steps 50``
   (a new user's first run: it trains the instrument and embeds the captions, and caches both)
3. the same Stage-I command again into another directory (every later run: both read back)
4. ``jaxgan eval`` on the first Stage-I run

Each row is the command's wall time from the shell (imports and compilation included) and the
phases the run reports on its last line (set-up, init, data, compiling, training, figures,
evaluation).

    python benchmarks/first_result.py
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from common import write

PHASES = ("set-up", "init", "data", "compiling", "training", "figures", "evaluation", "checkpoints",
          "logs")


def timed(cmd: list[str], env: dict) -> tuple[float, dict]:
  """(wall seconds, the JSON object the command printed last)."""
  t = time.perf_counter()
  proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
  seconds = time.perf_counter() - t
  if proc.returncode != 0:
    sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
  return seconds, json.loads(proc.stdout.strip().splitlines()[-1])


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--encoder-steps", type=int, default=200)
  p.add_argument("--stage1-steps", type=int, default=50)
  p.add_argument("--name", default="first_result")
  args = p.parse_args()

  jaxgan = [sys.executable, "-m", "jaxgan.cli"]
  rows, result = [], {}
  with tempfile.TemporaryDirectory() as work:
    env = {**os.environ, "JAXGAN_CACHE": os.path.join(work, "cache")}
    enc, s1, s1b = (os.path.join(work, d) for d in ("enc", "s1", "s1-again"))
    common = ["--dataset", "shapes", "--image-size", "32", "--no-progress"]
    stage1 = lambda out: [*jaxgan, "train", "stackgan", "--stage", "1", *common, "--text-encoder",
                          enc, "--steps", str(args.stage1_steps), "--out", out]
    runs = [("text encoder", [*jaxgan, "train", "text-encoder", *common,
                              "--steps", str(args.encoder_steps), "--out", enc]),
            ("Stage-I, first run (caches empty)", stage1(s1)),
            ("Stage-I, again (instrument and embeddings cached)", stage1(s1b)),
            ("jaxgan eval of the first Stage-I run", [*jaxgan, "eval", s1])]
    for label, cmd in runs:
      seconds, out = timed(cmd, env)
      phases = out.get("phases", {})
      rows.append({"command": label, "wall_s": seconds,
                   **{k: phases.get(k) for k in PHASES if k in phases}})
      result[label] = {"argv": cmd[3:], "wall_s": seconds, "phases": phases,
                       "eval": out.get("eval") or {k: v for k, v in out.items() if k != "step"}}
      print(rows[-1], flush=True)
  notes = ("Wall seconds of each command from the shell, each a fresh process, the user cache "
           "(instruments, caption embeddings, compiled programs) empty before the text encoder; "
           "the phases are the run's own account: set-up (imports, the dataset, the text "
           "encoder's state), init (the model's state), data (the training data put on the device, "
           "where a first run embeds the 14,400 training captions), compiling (what JAX spent "
           "compiling, wherever it fell), training (every chunk's steps), evaluation (a first run "
           "trains the attribute classifier there). The second Stage-I run reads the embeddings, the instrument and "
           "the compiled programs back. Goal (issue 15): the 50-step Stage-I run under 90 s.")
  print(write(args.name, result, rows, notes))


if __name__ == "__main__":
  main()
