"""gymnax environments behind the jaxrl protocol (gymnax >= 1.0: the 6-tuple ``step`` with
auto-reset and ``info["final_observation"]``)."""

import dataclasses
import importlib.util
import sys
import types
from typing import Any


def defer_import(name: str) -> None:
  """Makes module ``name`` load when one of its attributes is first used instead of when it is
  imported, unless it is loaded already or absent. gymnax imports seaborn at import time for its
  Pong and MinAtar renderers, which jaxrl never calls, and seaborn brings pandas and scipy.stats:
  1.5-2 s of every jaxrl command's start-up on 2 CPU cores. A renderer, or a user's own
  ``seaborn.X``, loads it in full at that first use. (importlib's LazyLoader does not do this on
  Python 3.11: the next ``import seaborn`` reads the module's ``__spec__`` and so loads it.)"""
  if name in sys.modules or (spec := importlib.util.find_spec(name)) is None:
    return

  class Deferred(types.ModuleType):
    def __getattr__(self, attr):  # only for what the placeholder lacks: all but its spec and name
      if sys.modules.get(name) is self:
        del sys.modules[name]
      module = importlib.import_module(name)
      self.__dict__.update(module.__dict__)
      return getattr(module, attr)

  placeholder = Deferred(name)
  placeholder.__spec__ = spec
  sys.modules[name] = placeholder


defer_import("seaborn")

import gymnax  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from gymnax.environments import spaces  # noqa: E402

from jaxrl.envs import base  # noqa: E402


@dataclasses.dataclass(frozen=True, eq=False)
class GymnaxEnv:
  """``gymnax.make(name)`` with its default parameters (or ``params``), episode statistics added."""

  env: Any
  params: Any

  @property
  def name(self) -> str:
    return self.env.name

  @property
  def action_space(self):
    return self.env.action_space(self.params)

  @property
  def num_actions(self) -> int:
    space = self.action_space
    if not isinstance(space, spaces.Discrete):
      raise ValueError(f"{self.name} has a {type(space).__name__} action space; DQN needs discrete "
                       "actions (choose a discrete environment, e.g. CartPole-v1).")
    return int(space.n)

  @property
  def observation_shape(self) -> tuple[int, ...]:
    return tuple(self.env.observation_space(self.params).shape)

  @property
  def observation_dtype(self):
    return jax.eval_shape(self.env.reset, jax.random.key(0), self.params)[0].dtype

  @property
  def storage_dtype(self):
    """The dtype a replay buffer stores observations in: MinAtar's are 0/1 channels, kept as bool
    (a quarter of the float32 memory, exact)."""
    return jnp.bool_ if self.name.endswith("-MinAtar") else self.observation_dtype

  @property
  def max_episode_steps(self) -> int:
    return int(self.params.max_steps_in_episode)

  def reset(self, key):
    obs, env_state = self.env.reset(key, self.params)
    return obs, base.start_episode(env_state)

  def step(self, key, state: base.EpisodeState, action):
    obs, env_state, reward, terminated, truncated, info = self.env.step(
        key, state.env_state, action, self.params)
    reward = jnp.asarray(reward, jnp.float32)
    terminated, truncated = jnp.asarray(terminated, bool), jnp.asarray(truncated, bool)
    state, stats = base.record_step(state, env_state, reward, terminated | truncated)
    info = {"final_observation": info["final_observation"], **stats}
    return obs, state, reward, terminated, truncated, info


def make(name: str, **params) -> GymnaxEnv:
  # Some gymnax environments build jnp arrays in __init__ (MinAtar Breakout's brick map). Made
  # inside a trace (DQN's jitted init makes its environment there, and keeps it), those would be
  # tracers that leak into the next trace; made at compile time they are constants.
  with jax.ensure_compile_time_eval():
    env, default = gymnax.make(name)
  return GymnaxEnv(env, default.replace(**params) if params else default)
