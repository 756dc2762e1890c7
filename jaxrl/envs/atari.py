"""Atari through envpool (issue 4, in progress): vectorised environments with the Mnih et al. 2015
preprocessing, stepped from Python (the host path) or from inside ``jit`` through envpool's XLA
interface (the XLA path).

envpool's own Atari defaults are not the paper's (no episodic life, no reward clipping, 27,000
steps per episode): :data:`MNIH2015` sets every option explicitly. envpool resets by itself one
step late: the step after a terminal observation performs the reset, ignores the action and
returns reward 0 and done False; a replay must never store that pair (see
:func:`jaxrl.replay.sample_frames`).
"""

import importlib.util

import numpy as np

# envpool options realising Mnih et al. 2015 (Nature), each set explicitly.
MNIH2015 = {
    "img_height": 84, "img_width": 84, "gray_scale": True,   # 84x84 luminance
    "stack_num": 4,                                          # agent history of 4 frames
    "frame_skip": 4,                                         # action repeat 4
    "noop_max": 30,                                          # up to 30 no-op starts
    "episodic_life": True,                                   # a lost life ends a learning episode
    "reward_clip": True,                                     # rewards clipped to [-1, 1] for learning
    "repeat_action_probability": 0.0,                        # no sticky actions (ALE v5 uses 0.25)
    "max_episode_steps": 27_000,                             # 108,000 frames = 30 minutes
    "use_fire_reset": False,                                 # not in the paper
    "full_action_space": False,                              # the game's minimal action set
}


def _envpool():
  if importlib.util.find_spec("envpool") is None:
    raise ImportError("Atari environments need envpool: pip install -e '.[atari]'.")
  import envpool
  return envpool


def atari_games() -> list[str]:
  return sorted(e for e in _envpool().list_all_envs() if e.endswith("-v5"))


def make(game: str, num_envs: int, seed: int, **options):
  """``num_envs`` envpool Atari environments (gymnasium API) with the :data:`MNIH2015` options,
  ``options`` overriding them."""
  envpool = _envpool()
  games = atari_games()
  if game not in games:
    raise ValueError(f"unknown Atari game {game!r}; envpool has: {', '.join(games)}.")
  if num_envs < 1:
    raise ValueError(f"num_envs must be >= 1, got {num_envs}.")
  return envpool.make(game, env_type="gymnasium", num_envs=num_envs, seed=seed,
                      **{**MNIH2015, **options})


def host_rollout(env, actions: np.ndarray) -> dict:
  """Resets ``env`` and steps it from Python with ``actions`` [T, num_envs]; the observations
  (including the reset one) and rewards, [T + 1, ...] and [T, num_envs]."""
  obs, _ = env.reset()
  all_obs, rewards, done = [obs], [], []
  for a in actions:
    obs, reward, terminated, truncated, _ = env.step(np.asarray(a, np.int32))
    all_obs.append(obs)
    rewards.append(reward)
    done.append(terminated | truncated)
  return {"obs": np.stack(all_obs), "reward": np.stack(rewards), "done": np.stack(done)}


def xla_rollout(env, actions) -> dict:
  """The same as :func:`host_rollout` with every step inside one jitted ``lax.scan`` through
  envpool's XLA interface (``env.xla()``)."""
  import jax
  import jax.numpy as jnp

  obs, _ = env.reset()
  handle, _, _, step = env.xla()
  env_id = jnp.arange(env.spec.config.num_envs, dtype=jnp.int32)

  def body(handle, a):
    handle, (obs, reward, terminated, truncated, _) = step(handle, a, env_id)
    return handle, (obs, reward, terminated | truncated)

  _, (all_obs, rewards, done) = jax.jit(lambda h, a: jax.lax.scan(body, h, a))(
      handle, jnp.asarray(actions, jnp.int32))
  return {"obs": np.concatenate([obs[None], np.asarray(all_obs)]), "reward": np.asarray(rewards),
          "done": np.asarray(done)}
