"""DQN on envpool Atari (the `nature` preset): speed of the whole training loop with the
environments stepped inside jit (XLA path), from Python (host path), and, when ale-py is
installed, through a gymnasium vector environment from Python; the replay's bytes per
transition; learning curves on Pong and Breakout for the budget that fits the machine.

  python benchmarks/dqn_atari.py --speed-steps 4000 --curve-steps 100000

Speed: the learner is the same in every row (the Nature CNN, an update every 4 steps, batch 32),
timed after compilation with learning on; frames per second = 4 x environment steps per second
(frame skip 4). Beside each path, envpool's raw step rate on the same pool (uniformly random
actions, no learner, stepped the same way): the ceiling the environments put on the loop, so a
reader sees whether the learner or the emulator bounds it. A GPU run of the XLA path first in a
process of its own (`--paths xla`): envpool's XLA step has been reported to abort there. The gymnasium row (ale-py's `ALE/{game}` with AtariPreprocessing and
FrameStackObservation, the Mnih 2015 settings except episodic life, SyncVectorEnv) is skipped when ale-py is
missing (`pip install ale-py opencv-python-headless`).

Curves: the `nature` preset through `jaxrl train dqn` (XLA path), with the exploration schedule
and the replay start scaled to the budget (epsilon 1 -> 0.1 over the first 10% of the steps,
learning from 5% of them) since the paper's 1M-step schedule does not fit a CPU budget; the
returns are raw whole-game scores (training games at the current epsilon; evaluation games at
epsilon 0.05 without episodic life).
"""

import argparse
import importlib.util
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import common  # noqa: E402
from dqn_cartpole import per_seed_curve, plot_curves  # noqa: E402
from jaxrl import dqn, replay  # noqa: E402
from jaxrl.dqn import program as dqn_program  # noqa: E402
from jaxrl.envs import atari  # noqa: E402
from jaxrun import LoopConfig, files, run  # noqa: E402


class GymnasiumPool:
  """ale-py environments in a gymnasium SyncVectorEnv with the Mnih 2015 preprocessing (but no
  episodic life), behind the interface of ``atari.Pool.host_step`` (gymnasium 1.x auto-resets one
  step late, as envpool does)."""

  def __init__(self, game: str, num_envs: int, seed: int):
    import ale_py
    import gymnasium as gym

    gym.register_envs(ale_py)

    def make():
      env = gym.make(f"ALE/{game.split('-')[0]}-v5", frameskip=1, repeat_action_probability=0.0,
                     full_action_space=False, max_episode_steps=4 * atari.MNIH2015["max_episode_steps"])
      env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84,
                                            grayscale_obs=True, terminal_on_life_loss=False)
      return gym.wrappers.FrameStackObservation(env, 4)

    self.env = gym.vector.SyncVectorEnv([make for _ in range(num_envs)])
    self.seed, self.num_envs = seed, num_envs

  def reset(self):
    obs, _ = self.env.reset(seed=self.seed)
    self.elapsed, self.done = np.zeros(self.num_envs, np.int32), np.zeros(self.num_envs, bool)
    return jnp.asarray(obs), atari.blank_state(self.num_envs)

  def host_step(self, state, actions):
    obs, reward, terminated, truncated, _ = self.env.step(np.asarray(actions))
    self.elapsed = np.where(self.done, 0, self.elapsed + 1)  # the step after an end is the reset
    self.done = terminated | truncated
    return state, jax.tree.map(jnp.asarray, {
        "obs": obs, "reward": np.sign(reward).astype(np.float32), "terminated": terminated,
        "truncated": truncated, "raw_reward": reward.astype(np.float32), "elapsed_step": self.elapsed})


def loop_speed(config: dqn.DQNConfig, path: str, steps: int, seed: int) -> dict:
  """Environment steps per second of ``steps`` training steps (learning on) after a warm-up that
  fills the replay to learning_starts and compiles."""
  if path == "gymnasium":
    pool = GymnasiumPool(config.env, config.num_envs, seed)
  else:
    pool = atari.Pool(config.env, config.num_envs, seed, **config.pool_options)
  state = jax.jit(lambda k, s: dqn.init(k, config, s))(jax.random.key(seed), pool.reset())
  iters, warm = steps // config.train_every, config.learning_starts // config.train_every
  if path == "xla":
    chunk = dqn_program.make_atari_chunk(iters, pool, True)
    state, _ = dqn_program.make_atari_chunk(warm, pool, True)(state)
    compiled = chunk.lower(state).compile()
    updates_before = int(state.updates)
    t = time.perf_counter()
    state, _ = jax.block_until_ready(compiled(state))
  else:
    host_run = dqn.make_host_run(pool.host_step)
    state, _ = host_run(state, warm)
    updates_before = int(state.updates)
    t = time.perf_counter()
    state, _ = jax.block_until_ready(host_run(state, iters))
  seconds = time.perf_counter() - t
  jax.effects_barrier()
  (pool.env if path == "gymnasium" else pool).close()
  updates = int(state.updates) - updates_before
  assert updates == iters, "every timed iteration must learn"
  return {"path": path, "env_steps": steps, "seconds": seconds, "steps_per_second": steps / seconds,
          "frames_per_second": 4 * steps / seconds, "updates": updates}


def raw_step_rate(config: dqn.DQNConfig, path: str, steps: int, seed: int) -> dict:
  """Environment steps per second of envpool alone: the pool of ``config`` stepped ``steps``
  times in all with uniformly random actions and no learner, from one jitted scan (``xla``) or
  from a Python loop of ``env.step`` (``host``), after one untimed pass that compiles."""
  pool = atari.Pool(config.env, config.num_envs, seed, **config.pool_options)
  _, state = pool.reset()
  actions = jax.random.randint(jax.random.key(seed), (steps // config.num_envs, config.num_envs), 0,
                               int(pool.env.action_space.n), jnp.int32)
  if path == "xla":
    def body(s, a):
      s, result = pool.xla_step(s, a)
      return s, result["reward"].sum()
    scan = jax.jit(lambda s, a: jax.lax.scan(body, s, a))
    timed = lambda: jax.block_until_ready(scan(state, actions))
  else:
    host_actions = np.asarray(actions)
    def timed():
      for a in host_actions:
        pool.env.step(a)
  timed()  # compiles (XLA path) and warms the emulators
  t = time.perf_counter()
  timed()
  seconds = time.perf_counter() - t
  pool.close()
  return {"steps_per_second": actions.size / seconds, "seconds": seconds}


def learning_curve(game: str, steps: int, seed: int, out: str) -> tuple[dict, dict, list[dict]]:
  config = dqn.DQNConfig.nature(game, total_steps=steps, exploration_steps=steps // 10,
                                learning_starts=max(steps // 20, 32),
                                buffer_size=min(1_000_000, steps))
  chunk = max(steps // 25, 1_000)
  loop = LoopConfig(seed=seed, log_every=chunk, eval_every=steps // 4, checkpoint_every=steps)
  r = run.Run.new(dqn_program.METHOD, out, settings=dqn_program.DQNSettings(game), config=config,
                  loop=loop)
  _, result = run.train(r, progress=False)
  rows = files.read_jsonl(os.path.join(out, "metrics.jsonl"))
  return config, result, rows


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--game", default="Pong-v5", help="game of the speed rows")
  p.add_argument("--speed-steps", type=int, default=4_000, help="timed environment steps per row")
  p.add_argument("--num-envs", type=int, default=1, help="parallel environments in the speed rows")
  p.add_argument("--curve-steps", type=int, default=100_000,
                 help="environment steps of each learning curve (0: no curves)")
  p.add_argument("--curve-games", nargs="+", default=["Pong-v5", "Breakout-v5"])
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--paths", nargs="+", choices=["xla", "host", "gymnasium"], default=None,
                 help="speed rows (default: xla host, and gymnasium when ale-py is installed)")
  p.add_argument("--name", default="dqn_atari")
  args = p.parse_args()

  speed_config = dqn.DQNConfig.nature(args.game, buffer_size=100_000, learning_starts=1_000,
                                      num_envs=args.num_envs, exploration_steps=10_000)
  paths = args.paths or ["xla", "host"] + (["gymnasium"] if importlib.util.find_spec("ale_py") else [])
  if args.paths is None and "gymnasium" not in paths:
    print("ale-py is not installed: no gymnasium row (pip install ale-py opencv-python-headless)", file=sys.stderr)
  table = []
  for path in paths:
    if path != "gymnasium":
      raw = raw_step_rate(speed_config, path, args.speed_steps, args.seed)
      table.append({"row": f"envpool alone: {path} path, random actions", "game": args.game,
                    "env_steps_per_second": raw["steps_per_second"],
                    "frames_per_second": 4 * raw["steps_per_second"], "seconds": raw["seconds"]})
      print(table[-1], flush=True)
    r = loop_speed(speed_config, path, args.speed_steps, args.seed)
    table.append({"row": f"speed: {path} path" if path != "gymnasium" else
                  "speed: gymnasium SyncVectorEnv (ale-py)", "game": args.game,
                  "env_steps_per_second": r["steps_per_second"],
                  "frames_per_second": r["frames_per_second"], "seconds": r["seconds"]})
    print(table[-1], flush=True)

  buf = replay.init_frames(1_000, jnp.zeros((84, 84), jnp.uint8), 1)
  frame_bytes = replay.bytes_per_transition(buf)
  naive = 2 * 4 * 84 * 84 + 4 + 4 + 2  # obs and next_obs stacks, action, reward, two flags
  memory = {"frame_replay_bytes_per_transition": frame_bytes,
            "obs_next_obs_bytes_per_transition": naive,
            "frame_replay_gb_per_1m": frame_bytes * 1e6 / 1e9, "obs_next_obs_gb_per_1m": naive * 1e6 / 1e9}
  print(memory, flush=True)

  curves, runs = {}, {}
  for game in args.curve_games if args.curve_steps else []:
    with tempfile.TemporaryDirectory() as out:
      config, result, rows = learning_curve(game, args.curve_steps, args.seed, out)
    train_rows = [r for r in rows if r["episode_return_mean"] is not None]
    curves[f"{game}: training games"] = per_seed_curve(
        [r["step"] for r in train_rows], np.array([[r["episode_return_mean"] for r in train_rows]]))
    evals = [(r["step"], r["eval_return_mean"]) for r in rows if "eval_return_mean" in r]
    runs[game] = {"evaluations": evals, "final": result["eval"], "seconds": result["seconds"]}
    table.append({"row": f"curve: {game}", "game": game,
                  "env_steps_per_second": args.curve_steps / result["seconds"],
                  "frames_per_second": 4 * args.curve_steps / result["seconds"],
                  "seconds": result["seconds"], "eval_return": result["eval"]["return_mean"],
                  "human_normalized": result["eval"].get("human_normalized_score")})
    print(table[-1], runs[game], flush=True)
  if curves:
    plot_curves(curves, os.path.join(common.RESULTS, f"{args.name}.png"))

  speed = {r["row"]: r["env_steps_per_second"] for r in table}
  ratio = ("" if not {"speed: xla path", "speed: host path"} <= set(speed) else
           f"; the XLA path is {speed['speed: xla path'] / speed['speed: host path']:.2f}x the host path")
  notes = (f"Speed rows: the `nature` learner (Nature CNN, centred RMSProp, batch 32, an update every "
           f"4 steps) with {args.num_envs} environment(s), {args.speed_steps:,} timed steps after "
           f"compilation and a 1,000-step replay warm-up{ratio}. 'envpool alone' rows: the same pool "
           "stepped with random actions and no learner, the same way (the environments' ceiling). "
           "Memory: the frame replay stores one 84x84 frame per transition "
           f"({frame_bytes} B, {memory['frame_replay_gb_per_1m']:.1f} GB per 1M transitions) where "
           f"obs + next_obs stacks take {naive} B ({memory['obs_next_obs_gb_per_1m']:.1f} GB). ")
  if curves:
    notes += (f"Curve rows: {args.curve_steps:,} environment steps per game with the nature preset "
              "and a budget-scaled schedule (epsilon 1 -> 0.1 over the first 10%, learning from 5%; "
              "the paper: 1M and 50k of 50M frames); eval_return: raw whole-game score at epsilon "
              "0.05 (10 games), with its human-normalised score. Curves: "
              f"benchmarks/results/{args.name}.png.")
  print(common.write(args.name, {"memory": memory, "curves": curves, "runs": runs,
                                 "speed_config": dict(vars(speed_config))}, table, notes))


if __name__ == "__main__":
  main()
