"""Peer: PureJaxRL's DQN (a copy of purejaxrl/dqn.py, path given) on CartPole-v1 with its own
configuration, which is CleanRL's dqn_jax hyperparameters over 10 vectorised environments (the same
50k updates of batch 128 in 500k environment steps). Run in an environment with PureJaxRL's
dependencies (jax, flax, optax, chex, gymnax>=1.0, flashbax, wandb):

  python benchmarks/peers/purejaxrl_dqn.py /path/to/purejaxrl/dqn.py 500000 1
  -> last stdout line: {"library": "purejaxrl", "seeds": ..., "compile_seconds": ..., "seconds": ...,
                        "steps_per_second": ..., "train_return_mean": ...}

Compilation is timed apart (ahead of time, as for jaxrl). The return is PureJaxRL's own metric: the
mean training-episode return over the last 1,000 iterations (it has no greedy evaluation). Its
make_train seeds the network from a fixed key (its issue #35), so its vmapped seeds differ only in
the environments' and exploration's randomness; that does not change its speed.
"""

import importlib.util
import json
import sys
import time


def main():
  path, steps, seeds = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
  envs = int(sys.argv[4]) if len(sys.argv) > 4 else 10
  argv, sys.argv = sys.argv, sys.argv[:1]  # the module may parse the command line when imported
  spec = importlib.util.spec_from_file_location("purejaxrl_dqn_under_test", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  sys.argv = argv
  import jax

  config = {"NUM_ENVS": envs, "BUFFER_SIZE": 10_000, "BUFFER_BATCH_SIZE": 128,
            "TOTAL_TIMESTEPS": steps, "EPSILON_START": 1.0, "EPSILON_FINISH": 0.05,
            "EPSILON_ANNEAL_TIME": steps / 2, "TARGET_UPDATE_INTERVAL": 500, "LR": 2.5e-4,
            "LEARNING_STARTS": 10_000, "TRAINING_INTERVAL": 10, "LR_LINEAR_DECAY": False,
            "GAMMA": 0.99, "TAU": 1.0, "ENV_NAME": "CartPole-v1", "SEED": 0, "NUM_SEEDS": seeds,
            "WANDB_MODE": "disabled"}
  keys = jax.random.split(jax.random.PRNGKey(0), seeds)
  t = time.perf_counter()
  compiled = jax.jit(jax.vmap(module.make_train(dict(config)))).lower(keys).compile()
  compile_s = time.perf_counter() - t
  t = time.perf_counter()
  out = jax.block_until_ready(compiled(keys))
  seconds = time.perf_counter() - t
  returns = out["metrics"]["returns"]
  print(json.dumps({"library": "purejaxrl", "seeds": seeds, "num_envs": envs,
                    "compile_seconds": round(compile_s, 3), "seconds": round(seconds, 3),
                    "steps_per_second": seeds * steps / seconds,
                    "train_return_mean": float(returns[:, -1000:].mean())}))


if __name__ == "__main__":
  main()
