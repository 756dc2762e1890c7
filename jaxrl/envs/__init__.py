"""Environments: one protocol (:mod:`jaxrl.envs.base`) with gymnax behind it; Atari through envpool
in :mod:`jaxrl.envs.atari` (its own, stateful interface: envpool resets one step late)."""

from jaxrl.envs import base
from jaxrl.envs.base import Environment, EpisodeState

# The gymnax environments jaxrl trains on: classic control and MinAtar (DQN), bandits (``jaxrl bandit``).
CLASSIC_CONTROL = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0")
MINATAR = ("Breakout-MinAtar", "Asterix-MinAtar", "Freeway-MinAtar", "SpaceInvaders-MinAtar",
           "Seaquest-MinAtar")
BANDITS = ("BernoulliBandit-misc", "GaussianBandit-misc")
DQN_ENVS = CLASSIC_CONTROL + MINATAR


def make(name: str, **params) -> Environment:
  """The environment ``name`` (a gymnax id such as CartPole-v1 or Breakout-MinAtar)."""
  from jaxrl.envs import gymnax_env  # before gymnax: it defers gymnax's plotting imports

  registered = gymnax_env.gymnax.registered_envs
  if name not in registered:
    raise ValueError(f"unknown environment {name!r}. DQN environments: {', '.join(DQN_ENVS)} and "
                     "the envpool Atari games (Pong-v5, Breakout-v5, ...: jaxrl.envs.atari."
                     f"atari_games()); bandits: {', '.join(BANDITS)}; all gymnax ids: "
                     f"{', '.join(registered)}.")
  return gymnax_env.make(name, **params)


__all__ = ["Environment", "EpisodeState", "base", "make", "CLASSIC_CONTROL", "MINATAR", "BANDITS",
           "DQN_ENVS"]
