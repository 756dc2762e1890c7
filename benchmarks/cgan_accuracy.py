"""The conditional GAN's label accuracy on digits: the share of samples that the project's
classifier assigns to the class they were asked for, overall and per class, over seeds trained
together in one program (`jaxgan train cgan --dataset digits --seeds N --eval-every E`), with the
class histogram of the samples.

  python benchmarks/cgan_accuracy.py --seeds 3 --steps 5000 --eval-every 1000

Writes results/NAME.{json,md} and NAME.png (the samples: a row per class, the first seed).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

import common  # noqa: E402
from jaxgan.algos import METHODS  # noqa: E402
from jaxgan.program import DataSettings  # noqa: E402
from jaxrun import LoopConfig, files, run  # noqa: E402


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--seeds", type=int, default=3)
  p.add_argument("--steps", type=int, default=5000, help="generator iterations")
  p.add_argument("--eval-every", type=int, default=1000)
  p.add_argument("--image-size", type=int, default=16)
  p.add_argument("--name", default="cgan_accuracy")
  args = p.parse_args()

  with tempfile.TemporaryDirectory() as workdir:
    out = os.path.join(workdir, "cgan")
    loop = LoopConfig(steps=args.steps, log_every=args.eval_every, eval_every=args.eval_every,
                      sample_every=0, checkpoint_every=args.steps, keep_checkpoints=1)
    settings = DataSettings("digits", image_size=args.image_size, seeds=args.seeds)
    t = time.perf_counter()
    _, summary = run.train(run.Run.new(METHODS.get("cgan"), out, settings=settings, loop=loop),
                           progress=False)
    seconds = time.perf_counter() - t
    result = summary["eval"]
    curve = [(r["step"], r["eval_label_accuracy"]) for r in files.RunDir(out).read_metrics()
             if "eval_label_accuracy" in r]
    os.makedirs(common.RESULTS, exist_ok=True)
    shutil.copy(os.path.join(out, "samples.png"), os.path.join(common.RESULTS, f"{args.name}.png"))

  per_seed = result["per_seed"]
  per_class = np.array([r["label_accuracy_per_class"] for r in per_seed], float)  # [seeds, classes]
  agg = result["aggregate"]["label_accuracy"]
  table = [{"seeds": args.seeds, "iterations": args.steps,
            "label accuracy (mean)": round(float(np.mean([r["label_accuracy"] for r in per_seed])), 3),
            "label accuracy (IQM, 95% CI)": common.iqm_cell(agg, 3),
            "per seed": " ".join(f"{r['label_accuracy']:.3f}" for r in per_seed),
            "worst class (mean over seeds)": f"{int(per_class.mean(0).argmin())}: {per_class.mean(0).min():.3f}",
            "classes above 0.75 (every seed)": int((per_class.min(0) > 0.75).sum()),
            "Fréchet (mean)": round(float(np.mean([r["frechet"] for r in per_seed])), 2)}]
  table += [{"seeds": f"class {c}", "label accuracy (mean)": round(float(per_class[:, c].mean()), 3),
             "per seed": " ".join(f"{v:.3f}" for v in per_class[:, c])} for c in range(per_class.shape[1])]
  notes = (f"Conditional GAN, `mirza` preset (Mirza & Osindero 2014: maxout MLPs, SGD 0.1 with decay "
           f"and momentum), on the bundled digits at {args.image_size} px; {result['per_seed'][0].get('classifier_test_accuracy', 0):.3f} "
           "test accuracy of the classifier. Label accuracy: of 10,000 samples asked for the classes "
           "in turn, the share the classifier assigns to the class asked for. IQM and 95% "
           f"stratified bootstrap interval over the seeds (rliable). {seconds:.0f} s in all.")
  print(common.write(args.name, {"args": vars(args), "per_seed": per_seed, "curve": curve}, table, notes))


if __name__ == "__main__":
  main()
