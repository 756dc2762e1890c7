"""Where a DQN iteration's time goes: the whole iteration against its acting half (``train_every``
environment steps with the epsilon-greedy policy, into the replay buffer) and its learning half
(the minibatch, the gradient step and the target network), each compiled as its own scan and run
from a state past ``learning_starts``, in microseconds per iteration.

  python benchmarks/dqn_profile.py                 # cleanrl preset: 1 env, an update every 10 steps
  python benchmarks/dqn_profile.py --num-envs 10   # PureJaxRL's layout: 10 envs, 1 step each

Timings exclude compilation; each is the best of --repeats runs of --iterations iterations.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import common  # noqa: E402
from jaxrl import dqn  # noqa: E402
from jaxrl.dqn import algorithm  # noqa: E402
from jaxrl.dqn import program as dqn_program  # noqa: E402
from jaxrun import threefry  # noqa: E402


def acting(state, n):
  """``n`` iterations' acting halves only."""
  c = state.config

  def one(s, _):
    k_act, _ = algorithm.iteration_keys(s)
    s, _ = jax.lax.scan(algorithm.act_and_store, s, algorithm.acting_noise(k_act, c, c.steps_per_env))
    return s.replace(iteration=s.iteration + 1), None
  return jax.lax.scan(one, state, None, length=n)[0]


def learning(state, n):
  """``n`` iterations' learning halves only (every one past learning_starts)."""
  zero = jnp.zeros((), jnp.int32)
  stats = {"episodes": zero, "return_sum": jnp.zeros(()), "length_sum": zero}

  def one(s, _):
    _, k_learn = algorithm.iteration_keys(s)
    s = s.replace(env_steps=s.env_steps + s.config.train_every)
    return algorithm.learn(s, k_learn, stats, s.env_steps - s.config.train_every, s.updates)[0], None
  return jax.lax.scan(one, state, None, length=n)[0]


def updates_only(state, n):
  """``n`` gradient steps (no target network, no cond)."""
  def one(s, _):
    _, k_learn = algorithm.iteration_keys(s)
    s, _ = algorithm.update(s, k_learn)
    return s.replace(iteration=s.iteration + 1), None
  return jax.lax.scan(one, state, None, length=n)[0]


def whole(state, n):
  return algorithm.run(state, n)[0]


PARTS = {"iteration": whole, "acting": acting, "learning": learning, "update": updates_only}


def time_part(fn, states, n: int, repeats: int) -> float:
  """Best seconds of ``repeats`` runs of ``n`` iterations from ``states`` (not donated)."""
  compiled = jax.jit(jax.vmap(lambda s: fn(s, n))).lower(states).compile()
  best = float("inf")
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(compiled(states))
    best = min(best, time.perf_counter() - t)
  return best


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--num-envs", type=int, default=1)
  p.add_argument("--seeds", type=int, nargs="+", default=[1, 8])
  p.add_argument("--iterations", type=int, default=2000)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--rolled-threefry", action="store_true",
                 help="lower threefry as JAX does on CPU (a loop) instead of unrolled")
  p.add_argument("--name", default=None)
  args = p.parse_args()
  if args.rolled_threefry:
    threefry.unroll_on_cpu(False)

  config = dqn.DQNConfig.cleanrl("CartPole-v1", num_envs=args.num_envs)
  warm = config.learning_starts // config.train_every + 1
  rows = []
  for seeds in args.seeds:
    keys = dqn_program.seed_keys(0, seeds)[0]
    states = jax.jit(jax.vmap(lambda k: algorithm.run(algorithm.init(k, config), warm)[0]))(keys)
    row = {"num_envs": config.num_envs, "seeds": seeds,
           "threefry": "rolled" if args.rolled_threefry else "unrolled"}
    for name, fn in PARTS.items():
      seconds = time_part(fn, states, args.iterations, args.repeats)
      row[f"{name}_us"] = 1e6 * seconds / args.iterations
    row["env_steps_per_s"] = seeds * config.train_every / (row["iteration_us"] * 1e-6)
    rows.append(row)
    print(row, flush=True)
  name = args.name or (f"dqn_profile_envs{config.num_envs}"
                       + ("_rolled_threefry" if args.rolled_threefry else ""))
  notes = (f"Microseconds per iteration ({config.train_every} environment steps over "
           f"{config.num_envs} environment(s), then {config.gradient_steps} update of batch "
           f"{config.batch_size}), all seeds together; from a state {warm} iterations in. "
           "`learning` is the cond-gated update with the target network; `update` the gradient step alone.")
  print(common.write(name, {"config": dict(vars(config)), "iterations": args.iterations}, rows, notes))


if __name__ == "__main__":
  main()
