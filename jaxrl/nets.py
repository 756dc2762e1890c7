"""Q-networks: observation -> one action value per action.

``MLPQNetwork``: CleanRL's dqn_jax network (120 -> 84 ReLU) for vector observations.
``NatureQNetwork``: Mnih et al. 2015's network for 4 stacked 84x84 frames: 32 8x8 stride-4, 64 4x4
stride-2 and 64 3x3 stride-1 ReLU convolutions, a 512-unit ReLU layer, the action values; it takes
envpool's uint8 [N, 4, 84, 84] stacks and scales them to [0, 1].
``MinAtarQNetwork``: Young & Tian 2019's DQN network: one 3x3 stride-1 convolution with 16
channels (VALID: 10x10 -> 8x8), a 128-unit ReLU layer, the action values. Its convolution is
:class:`jaxrun.conv.Conv`, which stays fast inside XLA:CPU loops (the whole DQN loop is one
``lax.scan``; a plain ``nn.Conv`` weight gradient there hits XLA:CPU's slow path, DESIGN.md).
"""

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from jaxrun.conv import Conv

NETWORKS = ("mlp", "minatar", "nature")


class MLPQNetwork(nn.Module):
  num_actions: int
  hidden: Sequence[int] = (120, 84)

  @nn.compact
  def __call__(self, obs: jax.Array) -> jax.Array:
    h = obs.reshape(obs.shape[0], -1).astype(jnp.float32)
    for width in self.hidden:
      h = nn.relu(nn.Dense(width)(h))
    return nn.Dense(self.num_actions)(h)


class MinAtarQNetwork(nn.Module):
  num_actions: int
  channels: int = 16
  hidden: int = 128

  @nn.compact
  def __call__(self, obs: jax.Array) -> jax.Array:
    h = nn.relu(Conv(self.channels, 3)(obs.astype(jnp.float32)))
    h = nn.relu(nn.Dense(self.hidden)(h.reshape(h.shape[0], -1)))
    return nn.Dense(self.num_actions)(h)


class NatureQNetwork(nn.Module):
  num_actions: int

  @nn.compact
  def __call__(self, obs: jax.Array) -> jax.Array:
    h = jnp.transpose(obs, (0, 2, 3, 1)).astype(jnp.float32) / 255.0  # [N, C, H, W] -> NHWC
    for features, kernel, stride in ((32, 8, 4), (64, 4, 2), (64, 3, 1)):
      h = nn.relu(Conv(features, kernel, stride)(h))
    h = nn.relu(nn.Dense(512)(h.reshape(h.shape[0], -1)))
    return nn.Dense(self.num_actions)(h)


def q_network(kind: str, num_actions: int, hidden: Sequence[int] = (120, 84)) -> nn.Module:
  if kind == "mlp":
    return MLPQNetwork(num_actions, tuple(hidden))
  if kind == "minatar":
    return MinAtarQNetwork(num_actions)
  if kind == "nature":
    return NatureQNetwork(num_actions)
  raise ValueError(f"unknown Q-network {kind!r}; choose one of {NETWORKS}.")
