"""How much does the adversarial term move G? Trains the `adv` row (adv+l2, the paper's weights:
lambda_adv 0.05, lambda_lp 1) on moving-digits and, at a few iterations, measures on one fixed
minibatch the global norm of G's gradient from each term of its objective separately:
||d(lambda_adv L_adv^G)/d theta|| and ||d(lambda_lp L_p)/d theta||, their ratio, and the cosine
between the two gradients. It explains why the `adv` row of benchmarks/results/frames.md matches
the `l2` row to three digits.

  python benchmarks/frames_gradients.py --steps 3000 --at 0 100 1000 3000

Writes benchmarks/results/frames-gradients.{json,md}.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

import common  # noqa: E402
from jaxgan.algos import frames, frames_run  # noqa: E402


def term_gradients(state: frames.FramesState, batch: dict) -> dict:
  """Norms of G's gradient from the weighted adversarial and L_p terms of its objective, their
  cosine, and the finest D's mean probability of real on the true and the predicted frames."""
  c, g_params, d_params = state.config, state.generator.params, state.discriminator.params
  grads = jax.jacrev(lambda p: frames.generator_objective(c, p, d_params, batch)[1])(g_params)
  g_adv = jax.tree.map(lambda g: c.lambda_adv * g, grads["g_adv"])
  g_lp = jax.tree.map(lambda g: c.lambda_lp * g, grads["lp"])
  n_adv, n_lp = optax.global_norm(g_adv), optax.global_norm(g_lp)
  dot = sum(jnp.vdot(a, b) for a, b in zip(jax.tree.leaves(g_adv), jax.tree.leaves(g_lp)))
  _, d = frames.networks(c)
  predictions = frames.generate(c, g_params, batch["inputs"])
  real = d.apply({"params": d_params}, batch["inputs"], frames.pyramid(batch["target"], c.scales))
  fake = d.apply({"params": d_params}, batch["inputs"], predictions)
  return {"adv_norm": n_adv, "lp_norm": n_lp, "ratio": n_adv / n_lp,
          "cosine": dot / (n_adv * n_lp), "d_real": jnp.mean(jax.nn.sigmoid(real[-1])),
          "d_fake": jnp.mean(jax.nn.sigmoid(fake[-1]))}


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--steps", type=int, default=3000, help="iterations to train")
  p.add_argument("--at", type=int, nargs="+", default=[0, 100, 1000, 3000],
                 help="iterations after which to measure")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--name", default="frames-gradients", help="results file name")
  args = p.parse_args()
  if max(args.at) > args.steps:
    p.error(f"--at {max(args.at)} is after the last of --steps {args.steps}.")

  dataset = frames_run.load(frames_run.FramesSettings())
  config = frames.FramesConfig.row("adv", frames_run.frame_shape(dataset), networks="small")
  data = {"x": jnp.asarray(dataset.train.x)}
  key = jax.random.key(args.seed)
  k_init, k_batch, k_train = jax.random.split(key, 3)
  state = frames.init(k_init, config)
  batch = frames.draw_batch(data, k_batch, config)
  step = jax.jit(frames.train_step)
  measure = jax.jit(term_gradients)

  rows = []
  for i in range(args.steps + 1):
    if i in args.at:
      m = {k: float(v) for k, v in measure(state, batch).items()}
      rows.append({"iteration": i, **m})
      print(f"iteration {i}: " + ", ".join(f"{k} {v:.4g}" for k, v in m.items()), flush=True)
    if i < args.steps:
      state, _ = step(state, data, jax.random.fold_in(k_train, i))

  table = [{"iteration": r["iteration"], "||grad adv|| (x0.05)": f"{r['adv_norm']:.3g}",
            "||grad L2||": f"{r['lp_norm']:.3g}", "ratio": f"{r['ratio']:.3g}",
            "cosine": f"{r['cosine']:.2f}", "D(real), 32 px": f"{r['d_real']:.3f}",
            "D(G(x)), 32 px": f"{r['d_fake']:.3f}"} for r in rows]
  notes = ("The `adv` row (adv+l2, small networks, moving-digits 32 px colour, seed "
           f"{args.seed}): global norms of G's gradient from each weighted term on one fixed "
           "minibatch of 8, measured after the given number of training iterations.")
  print(common.write(args.name, {"config": vars(args), "rows": rows}, table, notes))


if __name__ == "__main__":
  main()
