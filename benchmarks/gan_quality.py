"""GAN quality: modes covered and the share of high-quality samples (within 3 std of a mode) on
ring8 and grid25 for the GAN (saturating and non-saturating generator loss) and the WGAN, over
several seeds; Parzen-window log-likelihood and Fréchet distance (project classifier features) on
the bundled digits. Each run goes through the same training loop as `jaxgan train`.

  python benchmarks/gan_quality.py --seeds 3 --steps-2d 5000 --steps-digits 2000
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

import common  # noqa: E402
from jaxgan.algos import METHODS  # noqa: E402
from jaxgan.program import DataSettings  # noqa: E402
from jaxrun import LoopConfig, run  # noqa: E402

VARIANTS_2D = {  # name -> (method, config overrides)
    "GAN (saturating, Alg. 1)": ("gan", {"generator_loss": "saturating"}),
    "GAN (non-saturating)": ("gan", {"generator_loss": "non_saturating"}),
    "WGAN (toy preset: RMSProp 1e-3, c 0.1)": ("wgan", {}),
    "WGAN (paper: RMSProp 5e-5, c 0.01)": ("wgan", {"learning_rate": 5e-5, "clip": 0.01,
                                                    "warmup_iterations": 25, "warmup_every": 500}),
}
VARIANTS_DIGITS = {
    "GAN (Goodfellow preset)": ("gan", {}),
    "WGAN (official defaults)": ("wgan", {}),
}


def _train(method, dataset, steps, seed, overrides, workdir):
  loop = LoopConfig(steps=steps, seed=seed, log_every=min(500, steps), sample_every=10**9,
                    checkpoint_every=10**9, keep_checkpoints=1)
  out = os.path.join(workdir, f"{method}-{dataset}-{seed}-{len(os.listdir(workdir))}")
  t = time.perf_counter()
  r = run.Run.new(METHODS.get(method), out, settings=DataSettings(dataset), overrides=overrides,
                  loop=loop)
  _, summary = run.train(r, progress=False)
  return summary["eval"], time.perf_counter() - t


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--seeds", type=int, default=3)
  p.add_argument("--steps-2d", type=int, default=5000, help="generator iterations on ring8 / grid25")
  p.add_argument("--steps-digits", type=int, default=2000, help="generator iterations on digits")
  p.add_argument("--datasets", nargs="+", default=["ring8", "grid25", "digits"])
  p.add_argument("--name", default="gan_quality")
  args = p.parse_args()
  rows, runs = [], []
  with tempfile.TemporaryDirectory() as workdir:
    for dataset in args.datasets:
      image = dataset == "digits"
      variants = VARIANTS_DIGITS if image else VARIANTS_2D
      steps = args.steps_digits if image else args.steps_2d
      for name, (method, overrides) in variants.items():
        evals = []
        for seed in range(args.seeds):
          result, seconds = _train(method, dataset, steps, seed, overrides, workdir)
          runs.append({"dataset": dataset, "variant": name, "seed": seed, "steps": steps,
                       "seconds": seconds, **result})
          print(runs[-1], flush=True)
          evals.append(result)
        row = {"dataset": dataset, "variant": name, "steps": steps, "seeds": args.seeds}
        if image:
          row["parzen_ll"] = common.mean_sd_cell([e["parzen_ll"] for e in evals])
          row["frechet"] = common.mean_sd_cell([e["frechet"] for e in evals])
          row["inception_score"] = common.mean_sd_cell([e["inception_score"] for e in evals])
        else:
          modes = common.mean_sd_cell([e["modes"] for e in evals])
          row["modes"] = f"{modes} / {evals[0]['num_modes']}"
          row["high_quality"] = common.mean_sd_cell([e["high_quality"] for e in evals])
        rows.append(row)
  cols = ["dataset", "variant", "steps", "seeds", "modes", "high_quality", "parzen_ll", "frechet",
          "inception_score"]
  table = [{c: r.get(c) for c in cols} for r in rows]
  print(common.write(args.name, {"runs": runs}, table,
                     "Mean ± standard deviation over seeds. Modes: covered when >= 20 of 2,500 samples "
                     "lie within 3 std of the mode; high_quality: share of samples within 3 std of "
                     "any mode. Digits (16x16): Parzen log-likelihood of the test split in [0, 1] "
                     "pixel space (10,000 samples, sigma chosen on validation); Fréchet distance "
                     "and Inception-style score on the project classifier."))


if __name__ == "__main__":
  main()
