"""WGAN's central claim (Arjovsky et al. 2017, Figures 3-4): the critic's Wasserstein estimate
falls as the samples improve, where the GAN's discriminator loss says nothing of sample quality;
and WGAN trains with a DCGAN generator that has no batch norm (Figure 6), where the GAN does not.

On the bundled digits, each variant's seeds train together in one program (`jaxgan train ...
--seeds N --eval-every E`). At every evaluation the Fréchet distance on the project classifier
is set beside the training signal: the WGAN's estimate E f(x) - E f(G(z)) (the negated critic
loss) and the GAN's discriminator loss, each the median over the generator iterations since the
previous evaluation (the paper median-filters its curves). Reported per variant: Spearman's rank
correlation between the signal and the Fréchet distance over the evaluations of each seed, and
the last Fréchet distance.

  python benchmarks/wgan_estimate.py --seeds 3 --steps 2000 --eval-every 100 --sizes 16 32

Writes results/NAME.{json,md} with NAME.png (the curves) and NAME_samples.png (the generators
without batch norm, seed 0, side by side).
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

import common  # noqa: E402
from jaxgan.algos import METHODS, gan, wgan  # noqa: E402
from jaxgan.program import DataSettings  # noqa: E402
from jaxrun import LoopConfig, files, plots, run  # noqa: E402

# The GAN on the WGAN's DCGAN networks, trained as DCGAN is (Adam 2e-4, beta1 0.5, the
# non-saturating generator loss, batch 64, z ~ N(0, I)): the paper's baseline in Figures 4 and 6.
DCGAN = {"arch": "dcgan", "optimizer": "adam", "learning_rate": 2e-4, "beta1": 0.5,
         "generator_loss": "non_saturating", "batch_size": 64, "noise": "normal"}
VARIANTS = {  # name -> (method, config overrides, training signal, its label)
    "WGAN (official defaults)": ("wgan", {}, "wasserstein", "Wasserstein estimate"),
    "GAN (DCGAN)": ("gan", DCGAN, "d_loss", "discriminator loss"),
    "WGAN, generator without batch norm": ("wgan", {"generator_batch_norm": False}, "wasserstein",
                                           "Wasserstein estimate"),
    "GAN (DCGAN), generator without batch norm": ("gan", {**DCGAN, "generator_batch_norm": False},
                                                  "d_loss", "discriminator loss"),
}
GENERATE = {"gan": gan.generate, "wgan": wgan.generate}


def signal_at_evaluations(rows: list[dict], signal: str, eval_every: int):
  """(evaluation steps, signal [evals, seeds], Fréchet [evals, seeds]): the signal's median over
  the generator iterations (t - eval_every, t] before each evaluation at t."""
  per_step = {row["step"]: np.atleast_1d(row[signal]) for row in rows if signal in row}
  evals = [(row["step"], np.atleast_1d(row["eval_frechet"])) for row in rows if "eval_frechet" in row]
  steps, medians, frechet = [], [], []
  for t, f in evals:
    window = [v for s, v in per_step.items() if t - eval_every < s <= t]
    if window:
      steps.append(t)
      medians.append(np.median(np.stack(window), axis=0))
      frechet.append(f)
  return np.array(steps), np.stack(medians), np.stack(frechet)


def rank_correlation(signal: np.ndarray, frechet: np.ndarray) -> list[float]:
  """Spearman's rho between the signal and the Fréchet distance over the evaluations, per seed."""
  return [float(stats.spearmanr(signal[:, s], frechet[:, s]).statistic) for s in range(signal.shape[1])]


def _train(method, size, overrides, args, out):
  loop = LoopConfig(steps=args.steps, seed=0, log_every=args.eval_every, eval_every=args.eval_every,
                    sample_every=0, checkpoint_every=args.steps, keep_checkpoints=1)
  settings = DataSettings("digits", image_size=size, seeds=args.seeds, eval_samples=args.eval_samples)
  t = time.perf_counter()
  r = run.Run.new(METHODS.get(method), out, settings=settings, overrides=overrides, loop=loop)
  state, _ = run.train(r, progress=False)
  return state, files.RunDir(out).read_metrics(), time.perf_counter() - t


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--seeds", type=int, default=3)
  p.add_argument("--steps", type=int, default=2000, help="generator iterations")
  p.add_argument("--eval-every", type=int, default=100)
  p.add_argument("--eval-samples", type=int, default=2000, help="samples per Fréchet distance")
  p.add_argument("--sizes", type=int, nargs="+", default=[16, 32], help="digits' image side")
  p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
  p.add_argument("--name", default="wgan_estimate")
  args = p.parse_args()

  table, runs, panels, samples = [], [], [], []
  with tempfile.TemporaryDirectory() as workdir:
    for size in args.sizes:
      for name in args.variants:
        method, overrides, signal, label = VARIANTS[name]
        out = os.path.join(workdir, f"{method}-{size}-{len(runs)}")
        state, rows, seconds = _train(method, size, overrides, args, out)
        steps, values, frechet = signal_at_evaluations(rows, signal, args.eval_every)
        rho = rank_correlation(values, frechet)
        runs.append({"variant": name, "size": size, "seconds": seconds, "signal": signal,
                     "steps": steps.tolist(), "signal_median": values.T.tolist(),
                     "frechet": frechet.T.tolist(), "spearman": rho})
        table.append({"digits": f"{size}x{size}", "variant": name, "signal": label,
                      "spearman_per_seed": ", ".join(f"{r:.2f}" for r in rho),
                      "spearman_mean": float(np.mean(rho)), "frechet_last": float(np.mean(frechet[-1])),
                      "frechet_best": float(np.mean(frechet.min(0))), "seconds": seconds})
        print(table[-1], flush=True)
        panels.append((f"{name}, {size} px", values, frechet, steps, label))
        if not overrides.get("generator_batch_norm", True):
          seed0 = jax.tree.map(lambda x: x[0], state)
          samples.append((name, size, np.asarray(GENERATE[method](seed0, jax.random.key(1), 64))))
        common.write(args.name, {"runs": runs}, table, "(partial: the run goes on)")
  _figure(panels, os.path.join(common.RESULTS, f"{args.name}.png"))
  if samples:
    _samples(samples, os.path.join(common.RESULTS, f"{args.name}_samples.png"))
  notes = (f"Digits (sklearn's bundled 8x8, resized), {args.seeds} seeds per variant trained in one "
           f"program, {args.steps} generator iterations, an evaluation every {args.eval_every} "
           f"({args.eval_samples} samples). spearman: Spearman's rank correlation over the "
           "evaluations of one seed between the training signal (median over the iterations since "
           "the previous evaluation) and the Fréchet distance on the project classifier; +1: the "
           "signal falls exactly when the samples improve. WGAN: its official defaults (RMSProp "
           "5e-5, c 0.01, n_critic 5 with the 100-iteration phases); GAN: the same DCGAN networks "
           "trained as DCGAN (Adam 2e-4, beta1 0.5, non-saturating). Figures: "
           f"benchmarks/results/{args.name}.png (signal and Fréchet distance against iterations, "
           f"one line per seed) and {args.name}_samples.png (generators without batch norm, seed 0).")
  print(common.write(args.name, {"runs": runs}, table, notes))


def _figure(panels, path):
  plt = plots.pyplot()
  rows = (len(panels) + 1) // 2
  fig, axes = plt.subplots(rows, 2, figsize=(11, 3.6 * rows), squeeze=False)
  for ax in axes.flat[len(panels):]:
    ax.axis("off")
  for ax, (title, values, frechet, steps, label) in zip(axes.flat, panels):
    right = ax.twinx()
    for s in range(values.shape[1]):
      ax.plot(steps, values[:, s], color="tab:blue", alpha=0.8, lw=1)
      right.plot(steps, frechet[:, s], color="tab:red", alpha=0.8, lw=1, ls="--")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("generator iterations")
    ax.set_ylabel(label, color="tab:blue")
    right.set_ylabel("Fréchet distance (dashed)", color="tab:red")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def _samples(samples, path):
  plt = plots.pyplot()
  fig, axes = plt.subplots(1, len(samples), figsize=(4 * len(samples), 4.3), squeeze=False)
  for ax, (name, size, images) in zip(axes.flat, samples):
    grid = images[:64].reshape(8, 8, size, size, -1).transpose(0, 2, 1, 3, 4).reshape(8 * size, 8 * size, -1)
    ax.imshow((np.clip(grid[..., 0], -1, 1) + 1) / 2, cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"{name}, {size} px", fontsize=8)
    ax.axis("off")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


if __name__ == "__main__":
  main()
