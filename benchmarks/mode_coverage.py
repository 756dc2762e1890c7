"""Mode coverage on ring8 and grid25 over many seeds, beside the published tables: the GAN
(saturating and non-saturating generator loss) and the WGAN over a sweep of its clip (the toy
preset is c = 0.1), each variant's seeds trained together in one program (`jaxgan train ...
--seeds N [--sweep clip=...] --eval-every E`), so that coverage is also recorded against the
iterations.

  python benchmarks/mode_coverage.py --seeds 10 --steps 5000 --eval-every 500

The protocol of Unrolled GAN / VEEGAN / PacGAN: 2,500 samples; a mode is covered when at least 20
of them lie within 3 std of it; high quality: the share of samples within 3 std of some mode. Each
cell is the interquartile mean over the seeds with its 95% stratified bootstrap interval (rliable),
the mean, and on how many seeds every mode was covered. Writes results/NAME.{json,md,png}.
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

import common  # noqa: E402
from jaxgan.algos import METHODS  # noqa: E402
from jaxgan.program import DataSettings  # noqa: E402
from jaxrun import LoopConfig, files, plots, run  # noqa: E402

VARIANTS = {  # name -> (method, config overrides, sweep)
    "GAN (saturating, Alg. 1)": ("gan", {"generator_loss": "saturating"}, ()),
    "GAN (non-saturating)": ("gan", {"generator_loss": "non_saturating"}, ()),
    "WGAN (toy preset)": ("wgan", {}, None),  # the clip swept over --clips
}
# Modes covered, from VEEGAN (Srivastava et al. 2017, Table 1) and PacGAN (Lin et al. 2018):
# ring of 8 and grid of 25 Gaussians, their own networks and budgets.
PUBLISHED = [("GAN (VEEGAN Table 1)", 1.0, 3.3), ("ALI (VEEGAN Table 1)", 2.8, 15.8),
             ("Unrolled GAN (VEEGAN Table 1)", 7.6, 14.9), ("VEEGAN (VEEGAN Table 1)", 8.0, 24.6),
             ("PacGAN2 (PacGAN)", 7.9, 23.8)]


def _train(method, dataset, overrides, sweep, args, out):
  loop = LoopConfig(steps=args.steps, seed=0, log_every=args.eval_every, eval_every=args.eval_every,
                    sample_every=0, checkpoint_every=args.steps, keep_checkpoints=1)
  settings = DataSettings(dataset, seeds=args.seeds, sweep=sweep, eval_samples=2500,
                          devices=args.devices)
  t = time.perf_counter()
  r = run.Run.new(METHODS.get(method), out, settings=settings, overrides=overrides, loop=loop)
  _, summary = run.train(r, progress=False)
  result = summary["eval"]
  configurations = result["configurations"] if "configurations" in result else [result]
  rows = files.RunDir(out).read_metrics()
  curve = [(row["step"], row["eval_modes"]) for row in rows if "eval_modes" in row]
  return configurations, curve, time.perf_counter() - t


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--seeds", type=int, default=10)
  p.add_argument("--steps", type=int, default=5000, help="generator iterations")
  p.add_argument("--eval-every", type=int, default=500)
  p.add_argument("--datasets", nargs="+", default=["ring8", "grid25"])
  p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
  p.add_argument("--clips", default="0.01,0.03,0.1", help="the WGAN's clip values (the sweep)")
  p.add_argument("--devices", type=int, default=1, help="split each variant's runs over devices")
  p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                 help="a WGAN config field (JSON value) beside the preset's, e.g. learning_rate=3e-4")
  p.add_argument("--name", default="mode_coverage")
  args = p.parse_args()
  wgan_set = common.config_fields(p, args.set, "--set")
  from jaxrun import devices
  devices.make_cpu_devices(args.devices)

  table, runs, panels = [], [], []
  with tempfile.TemporaryDirectory() as workdir:
    for dataset in args.datasets:
      series_labels, series_values, x = [], [], None
      for name in args.variants:
        method, overrides, sweep = VARIANTS[name]
        if sweep is None:
          sweep = (f"clip={args.clips}",) if "," in args.clips else ()
          overrides = {**overrides, **({} if sweep else {"clip": float(args.clips)}), **wgan_set}
        out = os.path.join(workdir, f"{dataset}-{method}-{len(os.listdir(workdir))}")
        configurations, curve, seconds = _train(method, dataset, overrides, sweep, args, out)
        print(f"{dataset} {name}: {seconds:.0f} s", flush=True)
        x = np.array([s for s, _ in curve])
        per_run = np.array([v for _, v in curve], float)  # [evaluations, runs]
        for c, conf in enumerate(configurations):
          clip = conf.get("clip", overrides.get("clip"))
          label = name + (f", c = {clip}" if clip is not None else "") + "".join(
              f", {k} {v}" for k, v in wgan_set.items() if method == "wgan")
          modes = [r["modes"] for r in conf["per_seed"]]
          num = conf["per_seed"][0]["num_modes"]
          agg = conf["aggregate"]
          table.append({"dataset": dataset, "variant": label, "iterations": args.steps,
                        "seeds": len(modes), "modes (IQM, 95% CI)": common.iqm_cell(agg["modes"]),
                        "modes (mean)": f"{np.mean(modes):.2f} / {num}",
                        "all modes": f"{sum(m == num for m in modes)} of {len(modes)}",
                        "high quality (IQM, 95% CI)": common.iqm_cell(agg["high_quality"], 3)})
          own = per_run[:, c * len(modes):(c + 1) * len(modes)]  # [evaluations, seeds]
          runs.append({"dataset": dataset, "variant": label, "seconds": round(seconds, 1),
                       "per_seed": conf["per_seed"], "aggregate": agg,
                       "curve": {"iterations": x.tolist(), "modes_per_seed": own.tolist(),
                                 "seeds_with_all_modes": (own == num).sum(1).tolist()}})
          series_labels.append(label)
          series_values.append(own)
          print(table[-1], flush=True)
      panels.append((f"{dataset}: modes covered", "generator iteration", "modes (IQM, 95% CI)",
                     [(series_labels, x, np.concatenate(series_values, axis=1))]))
    for name, ring, grid in PUBLISHED:
      for dataset, value in (("ring8", ring), ("grid25", grid)):
        if dataset in args.datasets:
          table.append({"dataset": dataset, "variant": f"published: {name}",
                        "modes (mean)": f"{value} / {8 if dataset == 'ring8' else 25}"})
  plots.banded_curves(panels, os.path.join(common.RESULTS, f"{args.name}.png"),
                      f"Modes covered against iterations, {args.seeds} seeds")
  notes = ("Ours: ring8 = 8 Gaussians on a circle of radius 2, std 0.02; grid25 = 5x5 Gaussians, "
           "spacing 2, std 0.05; MLP generator and discriminator/critic of each preset (GAN: "
           "`gan` toy preset; WGAN: `wgan` toy preset, RMSProp 1e-3, n_critic 5, the clip swept). "
           "A mode is covered when >= 20 of 2,500 samples lie within 3 std of it; high quality: "
           "share of samples within 3 std of any mode. IQM and 95% stratified bootstrap interval "
           "over the seeds (rliable). Published rows: their networks, data std and budgets "
           "(VEEGAN: std 0.02 ring and grid); modes only.")
  print(common.write(args.name, {"args": vars(args), "runs": runs}, table, notes))


if __name__ == "__main__":
  main()
