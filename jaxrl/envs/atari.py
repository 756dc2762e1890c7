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


# Reference scores for the human-normalised score, (random, human) per game: average undiscounted
# returns with up to 30 no-op starts and 108,000-frame episodes, as used since Mnih et al. 2015
# (the DQN Zoo's table of the Atari-57 numbers).
REFERENCE_SCORES = {
    "Alien": (227.8, 7127.7), "Amidar": (5.8, 1719.5), "Assault": (222.4, 742.0),
    "Asterix": (210.0, 8503.3), "Asteroids": (719.1, 47388.7), "Atlantis": (12850.0, 29028.1),
    "BankHeist": (14.2, 753.1), "BattleZone": (2360.0, 37187.5), "BeamRider": (363.9, 16926.5),
    "Berzerk": (123.7, 2630.4), "Bowling": (23.1, 160.7), "Boxing": (0.1, 12.1),
    "Breakout": (1.7, 30.5), "Centipede": (2090.9, 12017.0), "ChopperCommand": (811.0, 7387.8),
    "CrazyClimber": (10780.5, 35829.4), "Defender": (2874.5, 18688.9),
    "DemonAttack": (152.1, 1971.0), "DoubleDunk": (-18.6, -16.4), "Enduro": (0.0, 860.5),
    "FishingDerby": (-91.7, -38.7), "Freeway": (0.0, 29.6), "Frostbite": (65.2, 4334.7),
    "Gopher": (257.6, 2412.5), "Gravitar": (173.0, 3351.4), "Hero": (1027.0, 30826.4),
    "IceHockey": (-11.2, 0.9), "Jamesbond": (29.0, 302.8), "Kangaroo": (52.0, 3035.0),
    "Krull": (1598.0, 2665.5), "KungFuMaster": (258.5, 22736.3),
    "MontezumaRevenge": (0.0, 4753.3), "MsPacman": (307.3, 6951.6),
    "NameThisGame": (2292.3, 8049.0), "Phoenix": (761.4, 7242.6), "Pitfall": (-229.4, 6463.7),
    "Pong": (-20.7, 14.6), "PrivateEye": (24.9, 69571.3), "Qbert": (163.9, 13455.0),
    "Riverraid": (1338.5, 17118.0), "RoadRunner": (11.5, 7845.0), "Robotank": (2.2, 11.9),
    "Seaquest": (68.4, 42054.7), "Skiing": (-17098.1, -4336.9), "Solaris": (1236.3, 12326.7),
    "SpaceInvaders": (148.0, 1668.7), "StarGunner": (664.0, 10250.0), "Surround": (-10.0, 6.5),
    "Tennis": (-23.8, -8.3), "TimePilot": (3568.0, 5229.2), "Tutankham": (11.4, 167.6),
    "UpNDown": (533.4, 11693.2), "Venture": (0.0, 1187.5), "VideoPinball": (16256.9, 17667.9),
    "WizardOfWor": (563.5, 4756.5), "YarsRevenge": (3092.9, 54576.9), "Zaxxon": (32.5, 9173.3),
}


def human_normalized_score(game: str, score: float) -> float:
  """(score - random) / (human - random): 0 is a random policy, 1 a professional game tester.
  ``game``: an envpool id (``Pong-v5``) or the bare name (``Pong``)."""
  name = game.split("-")[0]
  if name not in REFERENCE_SCORES:
    raise ValueError(f"no reference scores for {game!r}; games with them: "
                     f"{', '.join(REFERENCE_SCORES)}.")
  random, human = REFERENCE_SCORES[name]
  return (score - random) / (human - random)
