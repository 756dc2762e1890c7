"""Peer: DQN on CartPole-v1 through Stable-Baselines3 (PyTorch) or SBX (JAX), with CleanRL's
dqn_jax hyperparameters. Run in an environment that has stable-baselines3 / sbx-rl and gymnasium:

  python benchmarks/peers/sb3_dqn.py sb3 500000 0
  -> last stdout line: {"library": "sb3", "steps": ..., "seconds": ..., "steps_per_second": ...,
                        "eval_return_mean": ...}

Differences the libraries impose: both use the Huber loss (CleanRL: squared) and clip gradients
at norm 10 in SB3 (disabled here with a huge bound).
"""

import json
import sys
import time

import gymnasium as gym
import numpy as np


def main():
  library, steps, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
  if library == "sb3":
    from stable_baselines3 import DQN
    extra = {"max_grad_norm": 1e10}
  elif library == "sbx":
    from sbx import DQN
    extra = {}
  else:
    raise SystemExit(f"unknown library {library!r}: sb3 or sbx")
  env = gym.make("CartPole-v1")
  model = DQN("MlpPolicy", env, learning_rate=2.5e-4, buffer_size=10_000,
              learning_starts=min(10_000, steps // 2), batch_size=128, tau=1.0, gamma=0.99,
              train_freq=10, gradient_steps=1, target_update_interval=500,
              exploration_fraction=0.5, exploration_initial_eps=1.0, exploration_final_eps=0.05,
              policy_kwargs={"net_arch": [120, 84]}, seed=seed, verbose=0, **extra)
  t = time.perf_counter()
  model.learn(total_timesteps=steps)
  seconds = time.perf_counter() - t
  eval_env = gym.make("CartPole-v1")
  returns = []
  for episode in range(10):
    obs, _ = eval_env.reset(seed=10_000 + episode)
    done, total = False, 0.0
    while not done:
      action, _ = model.predict(obs, deterministic=True)
      obs, reward, terminated, truncated, _ = eval_env.step(action)
      total += float(reward)
      done = terminated or truncated
    returns.append(total)
  print(json.dumps({"library": library, "steps": steps, "seconds": seconds,
                    "steps_per_second": steps / seconds, "eval_return_mean": float(np.mean(returns))}))


if __name__ == "__main__":
  main()
