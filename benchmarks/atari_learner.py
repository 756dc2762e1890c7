"""The Atari learner against PyTorch's (issue 15, item 4): one DQN gradient step of the `nature`
preset (the Nature CNN on a [32, 4, 84, 84] uint8 minibatch, Huber loss against the target
network's max, centred RMSProp), the minibatch already in memory on both sides.

  python benchmarks/atari_learner.py --peer-python /path/to/torch-venv/bin/python

jaxrl's side is ``jaxrl.dqn.algorithm.loss_fn`` and ``optimizer`` as the training loop runs them,
timed two ways: one jitted update per Python call (as PyTorch's loop calls its step), and a
``lax.scan`` of updates (how the training loop runs them, inside its compiled iteration). The
PyTorch side is benchmarks/peers/pytorch_dqn.py (CleanRL's dqn_atari.py update with Mnih et al.'s
loss and optimiser). Each figure is the best of --repeats blocks of --updates updates after
compilation / warm-up; the sides alternate over --rounds, and the table keeps each side's best.

``--profile`` also writes NAME_profile.{json,md}: where an update's time goes, each part timed
inside a ``lax.scan`` (the online network's forward pass, then adding the target network's, the
gradient and the optimiser), and each layer's forward pass on its real input shape, jaxrl's
(``jaxrun.conv``: space-to-depth and im2col on CPU) beside XLA's own convolution and PyTorch's.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

import common  # noqa: E402
from jaxrl.dqn import DQNConfig, algorithm  # noqa: E402


def batch_of(key, size: int, num_actions: int) -> dict:
  k = jax.random.split(key, 5)
  frames = lambda k: jax.random.randint(k, (size, 4, 84, 84), 0, 256).astype(jnp.uint8)
  return {"obs": frames(k[0]), "next_obs": frames(k[1]),
          "action": jax.random.randint(k[2], (size,), 0, num_actions),
          "reward": jax.random.uniform(k[3], (size,)),
          "terminated": jax.random.uniform(k[4], (size,)) < 0.1}


POOL = 4  # minibatches the scan cycles through: none of its work is loop-invariant


def learner(config: DQNConfig):
  """(params, target params, opt_state, a pool of minibatches, one jitted update, a jitted scan
  of n updates). Everything is an argument (no constants for XLA to fold), and the scan takes
  another minibatch each update (with one fixed batch XLA hoists the target network's forward
  pass out of the loop: 40 updates/s instead of the honest figure)."""
  net, tx = algorithm.q_network(config), algorithm.optimizer(config)
  pool = jax.vmap(lambda k: batch_of(k, config.batch_size, 4))(jax.random.split(jax.random.key(1), POOL))
  params = net.init(jax.random.key(0), pool["obs"][0, :1])
  target = jax.tree.map(jnp.copy, params)

  def update(params, target, opt_state, batch):
    (loss, _), grads = jax.value_and_grad(algorithm.loss_fn, has_aux=True)(params, target, batch, config)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  def scan(params, target, opt_state, pool, n):
    def body(carry, i):
      p, o = carry
      p, o, loss = update(p, target, o, jax.tree.map(lambda x: x[i % POOL], pool))
      return (p, o), loss
    (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), jnp.arange(n))
    return params, opt_state, losses[-1]

  return (params, target, tx.init(params), pool, jax.jit(update, donate_argnums=(0, 2)),
          jax.jit(scan, static_argnums=4, donate_argnums=(0, 2)))


def time_jax(config, updates: int, repeats: int) -> dict:
  params, target, opt_state, pool, one, scan = learner(config)
  batches = [jax.tree.map(lambda x: x[i], pool) for i in range(POOL)]
  for _ in range(2):  # compile and warm up
    params, opt_state, loss = one(params, target, opt_state, batches[0])
    params, opt_state, loss = scan(params, target, opt_state, pool, updates)
  jax.block_until_ready(loss)
  best = {"per_call": float("inf"), "scan": float("inf")}
  for _ in range(repeats):
    t = time.perf_counter()
    for i in range(updates):
      params, opt_state, loss = one(params, target, opt_state, batches[i % POOL])
    jax.block_until_ready(loss)
    best["per_call"] = min(best["per_call"], time.perf_counter() - t)
    t = time.perf_counter()
    params, opt_state, loss = scan(params, target, opt_state, pool, updates)
    jax.block_until_ready(loss)
    best["scan"] = min(best["scan"], time.perf_counter() - t)
  return {k: updates / v for k, v in best.items()}


def _per_iteration_ms(fn, args, iterations: int = 20, repeats: int = 3) -> float:
  """Milliseconds per iteration of ``fn(*args, i)`` summed inside a jitted ``lax.scan``."""
  def run(*a):
    return jax.lax.scan(lambda acc, i: (acc + fn(*a, i), None), 0.0, jnp.arange(iterations))[0]
  run = jax.jit(run)
  jax.block_until_ready(run(*args))
  best = float("inf")
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(run(*args))
    best = min(best, time.perf_counter() - t)
  return 1000 * best / iterations


def profile_jax(config: DQNConfig, repeats: int) -> tuple[dict, dict]:
  """({part: ms per update, cumulative}, {layer: (jaxrl ms, XLA convolution ms)})."""
  from jaxrun.conv import conv2d
  net, tx = algorithm.q_network(config), algorithm.optimizer(config)
  params, target, opt_state, pool, _, _ = learner(config)
  pick = lambda i: jax.tree.map(lambda x: x[i % POOL], pool)
  loss = lambda p, b: algorithm.loss_fn(p, target, b, config)[0]

  def update(p, o, i):  # the parameters' sum keeps XLA from dropping the step
    grads = jax.grad(loss)(p, pick(i))
    updates, _ = tx.update(grads, o, p)
    return sum(jnp.sum(u) for u in jax.tree.leaves(optax.apply_updates(p, updates)))

  parts = {
      "online forward": _per_iteration_ms(lambda p, i: jnp.sum(net.apply(p, pick(i)["obs"])), (params,)),
      "+ target forward (the loss)": _per_iteration_ms(lambda p, i: loss(p, pick(i)), (params,)),
      "+ gradient": _per_iteration_ms(lambda p, i: sum(jnp.sum(g) for g in jax.tree.leaves(
          jax.grad(loss)(p, pick(i)))), (params,)),
      "+ optimiser (the whole update)": _per_iteration_ms(update, (params, opt_state)),
  }
  k = jax.random.split(jax.random.key(2), 4)
  shapes = {"conv1": ((32, 84, 84, 4), (8, 8, 4, 32), 4), "conv2": ((32, 20, 20, 32), (4, 4, 32, 64), 2),
            "conv3": ((32, 9, 9, 64), (3, 3, 64, 64), 1)}
  layers = {}
  for name, (xs, ws, stride) in shapes.items():
    x, w = jax.random.normal(k[0], xs), 0.05 * jax.random.normal(k[1], ws)
    ours = lambda x, w, i, s=stride: jnp.sum(conv2d(x + 1e-7 * i, w, s))
    xla = lambda x, w, i, s=stride: jnp.sum(jax.lax.conv_general_dilated(
        x + 1e-7 * i, w, (s, s), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")))
    layers[name] = (_per_iteration_ms(ours, (x, w)), _per_iteration_ms(xla, (x, w)))
  x, w = jax.random.normal(k[2], (32, 3136)), 0.01 * jax.random.normal(k[3], (3136, 512))
  layers["dense"] = (_per_iteration_ms(lambda x, w, i: jnp.sum((x + 1e-7 * i) @ w), (x, w)), None)
  return parts, layers


def write_profile(name: str, config: DQNConfig, args) -> None:
  parts, layers = profile_jax(config, args.repeats)
  peer = (common.run_peer(args.peer_python, "pytorch_dqn.py", "5", str(args.repeats), "0", "1")
          if args.peer_python else None)
  torch_ms = (peer or {}).get("layer_ms", {})
  rows = [{"part": part, "jaxrl_ms": ms} for part, ms in parts.items()]
  rows += [{"part": f"{layer} forward", "jaxrl_ms": ours, "xla_convolution_ms": xla,
            "pytorch_ms": torch_ms.get(layer)} for layer, (ours, xla) in layers.items()]
  notes = ("Batch 32, milliseconds per iteration inside a jitted lax.scan of 20 (best of "
           f"{args.repeats}); the parts are cumulative (each adds to the one above); the layers run "
           "forward only on inputs of their real shapes: jaxrl's jaxrun.conv, XLA's "
           "lax.conv_general_dilated, and the PyTorch peer's layer under no_grad.")
  print(common.write(f"{name}_profile", {"parts": parts, "layers": layers, "pytorch": peer}, rows, notes))


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--peer-python", help="a Python with torch (benchmarks/peers/pytorch_dqn.py)")
  p.add_argument("--updates", type=int, default=50)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--rounds", type=int, default=3)
  p.add_argument("--name", default="atari_learner_cpu")
  p.add_argument("--profile", action="store_true", help="also write NAME_profile: the update's parts "
                 "and each layer's forward pass, beside XLA's convolution and PyTorch's")
  args = p.parse_args()

  config = DQNConfig.nature("Breakout-v5")
  sides = {"jaxrl": lambda: time_jax(config, args.updates, args.repeats)}
  if args.peer_python:
    sides["pytorch"] = lambda: common.run_peer(args.peer_python, "pytorch_dqn.py", str(args.updates),
                                               str(args.repeats))
  best: dict = {}
  for side, _ in common.alternated(sides, args.rounds):
    out = sides[side]()
    if out is None:
      sys.exit(f"the {side} side did not run (see above)")
    print(side, out, flush=True)
    for k, v in out.items():
      best[(side, k)] = max(best.get((side, k), 0.0), v) if isinstance(v, float) else v
  rows = [{"implementation": "jaxrl, one jitted update per call", "updates_per_s": best[("jaxrl", "per_call")]},
          {"implementation": "jaxrl, updates in a lax.scan (as the training loop runs them)",
           "updates_per_s": best[("jaxrl", "scan")]}]
  if ("pytorch", "updates_per_s") in best:
    torch_rate = best[("pytorch", "updates_per_s")]
    rows.append({"implementation": f"PyTorch {best[('pytorch', 'torch')]} ({best[('pytorch', 'threads')]} "
                                   "threads), CleanRL's update", "updates_per_s": torch_rate})
    for row in rows:
      row["vs_pytorch"] = row["updates_per_s"] / torch_rate
  notes = ("Nature DQN gradient step, batch 32 of 4 x 84 x 84 uint8 frames, Huber loss, centred "
           "RMSProp; the minibatch in memory on both sides (replay sampling not timed). Best of "
           f"{args.repeats} blocks of {args.updates} updates per round, {args.rounds} rounds, sides "
           "alternated; compilation and warm-up excluded.")
  result = {"rows": {r["implementation"]: r for r in rows}, "updates": args.updates,
            "repeats": args.repeats, "rounds": args.rounds}
  print(common.write(args.name, result, rows, notes))
  if args.profile:
    write_profile(args.name, config, args)


if __name__ == "__main__":
  main()
