"""``jaxgan``: train, sample from and evaluate GANs from the command line.

  jaxgan train wgan --dataset digits --steps 2000 --out runs/wgan-digits
  jaxgan train gan --dataset ring8 --steps 5000 --generator-loss saturating
  jaxgan train wgan --out runs/wgan-digits --resume --steps 4000
  jaxgan train text-encoder --dataset shapes --steps 3000 --out runs/text-shapes
  jaxgan train stackgan --stage 1 --dataset shapes --text-encoder runs/text-shapes --out runs/stage1
  jaxgan sample runs/stage1 --caption "a large red circle in the centre on a dark background" --out red.png
  jaxgan sample runs/stage1 --interpolate "a small blue square" "a large yellow circle" --out strip.png
  jaxgan sample runs/wgan-digits --out grid.png
  jaxgan eval runs/wgan-digits
  jaxgan train pixelda --source digits --target digits-m --steps 3000 --out runs/pixelda
"""

import dataclasses
import json
import os
import sys
from typing import Annotated

import tyro

from jaxgan.algos import METHODS
from jaxrun import cli as run_cli


@dataclasses.dataclass(frozen=True)
class SampleArgs:
  """Write a sample figure of a run: a grid (cgan: one row per class; 2-D data: a scatter; the
  text encoder: retrieval; stackgan: rows of test captions, or --caption / --interpolate; pixelda:
  rows of source images, their adaptations for two noise draws, and target images)."""

  dir: Annotated[str, tyro.conf.Positional]  # run directory
  out: str                          # PNG file to write
  n: int = 64                       # samples (unconditional; --caption: for the caption; pixelda: 4 rows of n/4)
  seed: int = 0                     # sampling seed
  step: int | None = None           # checkpoint step (default: the newest that restores)
  caption: str | None = None        # stackgan: a grid of --n samples for this caption
  interpolate: tuple[str, str] | None = None  # stackgan: CAPTION_A CAPTION_B, one noise vector, the sentence embedding moved from A to B
  steps: int = 8                    # --interpolate: images in the strip


@dataclasses.dataclass(frozen=True)
class EvalArgs:
  """Print a run's metrics as one JSON object."""

  dir: Annotated[str, tyro.conf.Positional]  # run directory
  samples: int = 10_000             # generated samples for the image metrics
  step: int | None = None           # checkpoint step (default: the newest that restores)


def sample(argv) -> int:
  """write a sample figure (a grid; stackgan: --caption or --interpolate)"""
  import jax

  from jaxrun import files, plots, run

  args = tyro.cli(SampleArgs, args=argv, prog="jaxgan sample")
  for name in ("n", "steps"):
    if getattr(args, name) < 1:
      raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}.")
  out = args.out if args.out.lower().endswith(".png") else args.out + ".png"
  _, program, state = run.reopen(args.dir, METHODS, args.step)
  key = jax.random.key(args.seed)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  with files.atomic_output(out) as tmp:
    if args.caption is not None:
      images = program.caption_samples(state, [args.caption], args.n, key)[0]
      plots.image_grid(images, tmp, ncols=min(args.n, 8))
    elif args.interpolate is not None:
      plots.image_grid(program.interpolate(state, *args.interpolate, args.steps, key), tmp,
                       ncols=args.steps)
    else:
      program.figure(state, tmp, key, args.n)
  print(out)
  return 0


def evaluate(argv) -> int:
  """print the run's metrics as one JSON object"""
  from jaxrun import run

  args = tyro.cli(EvalArgs, args=argv, prog="jaxgan eval")
  if args.samples < 1:
    raise ValueError(f"--samples must be >= 1, got {args.samples}.")
  _, program, state = run.reopen(args.dir, METHODS, args.step)
  _, result = program.evaluate(state, program.step(state), samples=args.samples)
  print(json.dumps({"step": program.step(state), **result}))
  return 0


def main(argv=None) -> int:
  return run_cli.main("jaxgan", __doc__, METHODS, {"sample": sample, "eval": evaluate}, argv)


if __name__ == "__main__":
  sys.exit(main())
