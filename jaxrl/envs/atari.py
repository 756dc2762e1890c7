"""Atari through envpool: vectorised environments with the Mnih et al. 2015 preprocessing, stepped
from inside ``jit`` through envpool's XLA interface (:meth:`Pool.xla_step`) or from Python
(:meth:`Pool.host_step`, for comparison, debugging and TPU hosts, where envpool has no XLA target).

    pool = atari.Pool("Pong-v5", num_envs=8, seed=0)
    obs, state = pool.reset()                             # [8, 4, 84, 84] uint8, a PoolState
    state, result = pool.xla_step(state, actions)         # inside jit / lax.scan
    state, stats = atari.advance(state, result)           # first / reset flags, whole-game scores

envpool's own Atari defaults are not the paper's (no episodic life, no reward clipping, 27,000
steps per episode): :data:`MNIH2015` sets every option explicitly. envpool resets by itself one
step late: the step after an episode's last step performs the reset, ignores the action and
returns reward 0 and done False; a replay must never store that pair (the frame replay marks it
invalid). Measured on envpool 1.2.5: a game reset returns a stack that repeats its first frame and
``elapsed_step`` 0; the reset after a lost life (episodic life) keeps the game going, pushes one
frame onto the running stack and keeps ``elapsed_step``; ``info["reward"]`` is the unclipped score.
"""

import dataclasses
import functools
import importlib.util
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

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


def is_game(name: str) -> bool:
  """Whether ``name`` is an envpool Atari id (``Pong-v5``); gymnax has no ``-v5`` ids."""
  return name.endswith("-v5")


@dataclasses.dataclass(frozen=True)
class AtariSpec:
  """What an agent needs to know about a game under :data:`MNIH2015` (the attributes of
  :class:`jaxrl.envs.Environment` without its functional reset / step)."""
  name: str
  num_actions: int
  observation_shape: tuple[int, ...]
  observation_dtype: Any = np.uint8
  storage_dtype: Any = np.uint8
  max_episode_steps: int = MNIH2015["max_episode_steps"]


@functools.cache
def spec(game: str) -> AtariSpec:
  env = make(game, 1, seed=0)
  try:
    return AtariSpec(game, int(env.action_space.n), tuple(env.observation_space.shape))
  finally:
    env.close()


@struct.dataclass
class PoolState:
  """What a scan carries for a pool of N environments."""
  handle: jax.Array       # envpool's XLA handle (names the C++ pool: meaningless in another process)
  first: jax.Array        # [N] the current observation starts a game (its stack repeats one frame)
  resetting: jax.Array    # [N] the last step ended an episode, so envpool's next step is the reset
  game_return: jax.Array  # [N] raw (unclipped) score of the current game so far
  game_length: jax.Array  # [N] agent steps of the current game so far (reset steps not counted)


def blank_state(num_envs: int) -> PoolState:
  """A PoolState of the right shapes with no pool behind it (a checkpoint-restore template)."""
  return PoolState(jnp.zeros(np.dtype(np.uintp).itemsize, jnp.uint8), jnp.ones(num_envs, bool),
                   jnp.zeros(num_envs, bool), jnp.zeros(num_envs, jnp.float32),
                   jnp.zeros(num_envs, jnp.int32))


class Pool:
  """``num_envs`` envpool Atari environments (one C++ pool) with both ways of stepping them.

  Both step methods return ``(state, result)``; ``result`` holds ``obs`` [N, 4, 84, 84] uint8,
  ``reward`` (clipped when the pool clips), ``terminated``, ``truncated``, ``raw_reward`` (the game
  score) and ``elapsed_step`` (0 exactly when ``obs`` starts a game). A pool is deterministic: the
  same seed and actions give the same observations, stepped either way (tested)."""

  def __init__(self, game: str, num_envs: int, seed: int, **options):
    self.env = make(game, num_envs, seed, **options)
    self.num_envs = num_envs
    self._handle, _, _, self._step = self.env.xla()
    self._env_id = np.arange(num_envs, dtype=np.int32)

  def reset(self) -> tuple[jax.Array, PoolState]:
    obs, _ = self.env.reset()
    return jnp.asarray(obs), blank_state(self.num_envs).replace(handle=jnp.asarray(self._handle))

  def xla_step(self, state: PoolState, actions: jax.Array) -> tuple[PoolState, dict]:
    """One step of every environment from inside jit (an XLA custom call into envpool)."""
    handle, (obs, reward, terminated, truncated, info) = self._step(
        state.handle, actions.astype(jnp.int32), jnp.asarray(self._env_id))
    return state.replace(handle=handle), _result(obs, reward, terminated, truncated, info)

  def host_step(self, state: PoolState, actions) -> tuple[PoolState, dict]:
    """One step of every environment from Python (the host path)."""
    obs, reward, terminated, truncated, info = self.env.step(np.asarray(actions, np.int32))
    return state, jax.tree.map(jnp.asarray, _result(obs, reward, terminated, truncated, info))

  def close(self) -> None:
    self.env.close()


def _result(obs, reward, terminated, truncated, info) -> dict:
  return {"obs": obs, "reward": reward, "terminated": terminated, "truncated": truncated,
          "raw_reward": info["reward"], "elapsed_step": info["elapsed_step"]}


def advance(state: PoolState, result: dict) -> tuple[PoolState, dict]:
  """The flags and whole-game statistics after a step with ``result``. A game ends where a reset
  step (one after an episode end) returns ``elapsed_step`` 0; a reset after a lost life does not,
  so with episodic life the score is still the whole game's. ``stats``: ``game_over`` [N] and, where
  it is set, ``game_return`` (raw score) and ``game_length`` of the game that ended."""
  new_game = result["elapsed_step"] == 0
  game_over = state.resetting & new_game
  game_return = state.game_return + result["raw_reward"]
  game_length = state.game_length + (~state.resetting).astype(jnp.int32)
  # A game is over at a reset step, which adds no reward and is not counted as a step: the return
  # after it and the length before it are both the finished game's.
  stats = {"game_over": game_over, "game_return": game_return, "game_length": state.game_length}
  state = state.replace(first=new_game, resetting=result["terminated"] | result["truncated"],
                        game_return=jnp.where(new_game, 0.0, game_return),
                        game_length=jnp.where(new_game, 0, game_length))
  return state, stats


def rollout(pool: Pool, actions, xla: bool = True) -> dict:
  """Resets ``pool`` and steps it with ``actions`` [T, num_envs]: from one jitted ``lax.scan``
  (``xla``) or from a Python loop. Returns the reset observation and each step's result, stacked
  ([T, num_envs, ...])."""
  obs, state = pool.reset()
  actions = jnp.asarray(actions, jnp.int32)
  if xla:
    _, results = jax.jit(lambda s, a: jax.lax.scan(pool.xla_step, s, a))(state, actions)
  else:
    steps = []
    for a in actions:
      state, result = pool.host_step(state, a)
      steps.append(result)
    results = jax.tree.map(lambda *x: jnp.stack(x), *steps)
  return {"reset_obs": obs, **results}


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
