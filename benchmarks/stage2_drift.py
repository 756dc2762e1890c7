"""Where a refining Stage-II leaves its Stage-I image, on the runs a kept text-to-image benchmark
holds (`benchmarks/text_to_image.py --work DIR`).

  python benchmarks/stage2_drift.py --work runs/t2i_c300_xeon --seeds 0 1 2 3 4

or on any Stage-II runs (`jaxgan train stackgan --stage 2 ... --out DIR`), each against the
Stage-I run it refines: `--stage2 DIR [DIR ...]` (with or without --work).

For each Stage-II run, Stage-I and Stage-II generate one image per test caption from the same
noise (the table's draw 0). Stage-II's 128 px images are brought down to Stage-I's size in two
ways: the 4x4 box pool that `--stage1-consistency` compares with Stage-I
(jaxgan.losses.pooled_l1), and the anti-aliased linear resize that the attribute classifier reads
through. Reported: the L1 distance of each to the Stage-I images (the [-1, 1] scale), and the
attribute classifier's reading of Stage-I, Stage-II as evaluated, and the two reduced Stage-II
images. Where the box-pooled images read as Stage-II does, what changed is visible to the
consistency loss (drift it allowed), not a pattern inside the 4x4 blocks that pooling hides.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import common  # noqa: E402
from jaxgan.algos import METHODS, stackgan_run, text_encoder  # noqa: E402
from jaxgan.metrics import attributes  # noqa: E402
from jaxgan.nets.frames import downsample  # noqa: E402
from jaxrun import files, run  # noqa: E402

READ = ("mean", "colour", "shape", "size", "position", "background")


def _pairs(args) -> list[tuple[str, str]]:
  """(Stage-I, Stage-II) run directories to check: --work's seeds, then each --stage2 run with the
  Stage-I run its config names."""
  pairs = [tuple(os.path.join(args.work, f"s{stage}-{seed}") for stage in (1, 2))
           for seed in args.seeds]
  for s1, s2 in pairs:
    if not (os.path.isdir(s1) and os.path.isdir(s2)):
      raise SystemExit(f"{args.work} holds no Stage-I and Stage-II run of that seed ({s1} and {s2}): "
                       "pass a text_to_image.py --work directory and the seeds it trained.")
  for s2 in args.stage2:
    config = os.path.join(s2, "config.json")
    settings = files.read_json(config, "run config")["settings"] if os.path.exists(config) else {}
    if not settings.get("stage1"):
      raise SystemExit(f"{s2} is no Stage-II run (no config.json naming its Stage-I): pass the --out "
                       "of `jaxgan train stackgan --stage 2`.")
    pairs.append((settings["stage1"], s2))
  return pairs


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--work", help="a text_to_image.py --work directory (s1-SEED, s2-SEED)")
  p.add_argument("--seeds", type=int, nargs="+", default=[0], help="--work's seeds to check, each once")
  p.add_argument("--stage2", nargs="+", default=[], metavar="DIR", help="Stage-II run directories")
  p.add_argument("--name", default="stage2_drift")
  args = p.parse_args()
  if args.work is None and not args.stage2:
    p.error("pass --work DIR (with --seeds) or --stage2 DIR ...")
  if args.work is None:
    args.seeds = []
  pairs = _pairs(args)
  classifier, _ = attributes.train_attribute_classifier()
  rows = []
  for dirs in pairs:
    (_, _, stage1), (_, program, stage2) = (run.reopen(d, METHODS) for d in dirs)
    split = program.dataset.test
    emb = text_encoder.split_embeddings(program.encoder, split.captions)[:, 0]
    x1, x2 = (stackgan_run.caption_images(state, emb) for state in (stage1, stage2))
    factor = x2.shape[1] // x1.shape[1]
    pooled = np.asarray(downsample(jnp.asarray(x2), factor))
    resized = np.asarray(jax.image.resize(jnp.asarray(x2), x1.shape, "linear"))
    for name, x, l1 in (("Stage-I", x1, None), ("Stage-II (as evaluated)", x2, None),
                        (f"Stage-II, {factor}x{factor} box pool", pooled, np.abs(pooled - x1).mean()),
                        ("Stage-II, linear resize", resized, np.abs(resized - x1).mean())):
      acc = attributes.attribute_accuracy(classifier, x, split.attributes)
      rows.append({"stage2_run": os.path.relpath(dirs[1]), "images": name,
                   "l1_to_stage1": None if l1 is None else float(l1),
                   **{f"attribute_{k}": acc[k] for k in READ}})
      print(rows[-1], flush=True)
  notes = ("One image per test caption from its first caption, draw 0's noise, the same for both "
           "stages. l1_to_stage1: mean absolute difference to the Stage-I images on the [-1, 1] "
           "scale after bringing Stage-II down to Stage-I's size (the box pool is what "
           "--stage1-consistency compares; the linear resize, anti-aliased, is what the attribute "
           "classifier reads through). attribute_*: the attribute classifier's accuracy against "
           "the captions.")
  print(common.write(args.name, {"pairs": pairs}, rows, notes))


if __name__ == "__main__":
  main()
