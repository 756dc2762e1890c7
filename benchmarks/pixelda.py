"""PixelDA (Bousmalis et al. 2017) on digits -> digits-m: the accuracy on the target's test split
of the source-only classifier, PixelDA's adapted classifier, the target-only classifier (the
upper reference) and two ablations (no task loss in the G step; no discriminator), mean and std
over seeds; label preservation (the target-only classifier's accuracy on adapted source images);
training speed; and a figure of adaptations. Every run goes through `jaxgan train`'s loop.

  python benchmarks/pixelda.py --steps 3000 --seeds 3

The defaults fit 2 CPU cores: the `cpu` preset (16 px, G of 4 blocks x 32 filters, D from 32
filters; the paper's losses, weights and optimiser). The paper's networks at 32 px are a GPU job:

  python benchmarks/pixelda.py --preset paper --image-size 32 --steps 20000 --name pixelda_gpu

Writes benchmarks/results/NAME.{json,md,png} (the JSON and table after each seed, so an
interrupted run keeps what it finished). Training speed leaves out the chunks that compiled.
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

import common  # noqa: E402
from jaxgan.algos import METHODS, pixelda_run  # noqa: E402
from jaxrun import LoopConfig, run  # noqa: E402

VARIANTS = {"pixelda": {}, "no_task_loss_in_g": {"task_tower_in_g_step": False},
            "no_discriminator": {"adversarial": False}}
ROWS = ("source_only", "pixelda", "no_task_loss_in_g", "no_discriminator", "target_only")


def _summarise(per_seed: list[dict]) -> list[dict]:
  table = []
  for name in ROWS:
    values = [100 * s[name] for s in per_seed if name in s]
    if values:
      table.append({"classifier": name, "target test accuracy %": float(np.mean(values)),
                    "std": float(np.std(values)), "seeds": len(values),
                    "paper (MNIST -> MNIST-M)": pixelda_run.PAPER_TABLE_1.get(name)})
  lp = [100 * s["label_preservation"] for s in per_seed if "label_preservation" in s]
  if lp:
    table.append({"classifier": "label preservation (target-only T on G(x_s))",
                  "target test accuracy %": float(np.mean(lp)), "std": float(np.std(lp)),
                  "seeds": len(lp)})
  return table


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--steps", type=int, default=3000, help="PixelDA iterations (one D and one G step)")
  p.add_argument("--seeds", type=int, default=3)
  p.add_argument("--preset", default="cpu", choices=("cpu", "paper"))
  p.add_argument("--image-size", type=int, default=16)
  p.add_argument("--reference-steps", type=int, default=3000,
                 help="steps of the source-only and target-only classifiers")
  p.add_argument("--name", default="pixelda")
  args = p.parse_args()

  method = METHODS.get("pixelda")
  settings = method.settings(image_size=args.image_size)
  per_seed, speeds, extra = [], [], {}
  with tempfile.TemporaryDirectory() as tmp:
    for seed in range(args.seeds):
      row, references = {}, None
      for variant, overrides in VARIANTS.items():
        loop = LoopConfig(steps=args.steps, seed=seed, log_every=min(250, args.steps),
                          sample_every=0, checkpoint_every=args.steps, keep_checkpoints=1,
                          evaluate=False)
        r = run.Run.new(method, os.path.join(tmp, f"{variant}-{seed}"), settings=settings,
                        preset=args.preset, loop=loop,
                        overrides={**overrides, "reference_steps": args.reference_steps})
        state, summary = run.train(r, progress=False)
        program = r.program()
        if references is None:  # the same for every variant of a seed (the run's key, same T)
          references = program.references(state)
        result = pixelda_run.evaluate(state, r.context, references, program.eval_key)
        row[variant] = result["pixelda"]
        if variant == "pixelda":
          row.update({k: result[k] for k in ("source_only", "target_only", "label_preservation")})
          if seed == 0:
            pixelda_run.figure(state, r.context, os.path.join(common.RESULTS, f"{args.name}.png"),
                               program.sample_key)
        if summary.get("steps_per_s"):
          speeds.append({"variant": variant, "seed": seed, "iterations_per_s": summary["steps_per_s"]})
        print(f"seed {seed} {variant}: {row[variant]:.4f} ({summary.get('steps_per_s', 0):.1f} it/s)",
              file=sys.stderr, flush=True)
      per_seed.append(row)
      table = _summarise(per_seed)
      rate = [s["iterations_per_s"] for s in speeds if s["variant"] == "pixelda"]
      batch = r.config.batch_size
      extra = {"per_seed": per_seed, "speeds": speeds, "config": {"preset": args.preset,
               "image_size": args.image_size, "steps": args.steps,
               "reference_steps": args.reference_steps, "batch_size": batch},
               "pixelda_iterations_per_s": float(np.mean(rate)) if rate else None,
               # an iteration's D step adapts a batch of source images and reads a batch of target
               # images; its G step adapts another batch of source images
               "pixelda_train_images_per_s": float(np.mean(rate)) * 3 * batch if rate else None}
      notes = (f"{pixelda_run.DATA_NOTE}\n\nPixelDA: {args.steps} iterations, preset {args.preset}, "
               f"{args.image_size} px; references: {args.reference_steps} steps. Training speed: "
               f"{extra['pixelda_iterations_per_s'] or 0:.1f} iterations/s = "
               f"{extra['pixelda_train_images_per_s'] or 0:.0f} train images/s (the D step: a "
               "source and a target batch; the G step: a source batch). Label preservation: the target-only classifier's "
               "accuracy on G(x_s) of the source's test images against their labels.")
      print(common.write(args.name, extra, table, notes))


if __name__ == "__main__":
  main()
