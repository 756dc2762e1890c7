"""jaxrl: deep Q-learning (Mnih et al. 2013/2015) with a device-resident replay buffer, the whole
training loop in one jitted ``lax.scan``, on gymnax environments; epsilon-greedy bandits.

    from jaxrl import dqn
    config = dqn.DQNConfig.cleanrl("CartPole-v1")
    states, metrics = jax.jit(jax.vmap(dqn.make_train(config)))(keys)

The submodules load when first used (PEP 562), so ``jaxrl --help`` does not wait for JAX.
"""

import importlib

_SUBMODULES = ("bandits", "dqn", "envs", "nets", "replay")
_FROM_DQN = ("DQNConfig", "DQNState", "make_train")
__all__ = [*_SUBMODULES, *_FROM_DQN]


def __getattr__(name):
  if name in _SUBMODULES:
    return importlib.import_module(f"jaxrl.{name}")
  if name in _FROM_DQN:
    return getattr(importlib.import_module("jaxrl.dqn"), name)
  raise AttributeError(f"module 'jaxrl' has no attribute {name!r}")


def __dir__():
  return sorted([*globals(), *__all__])
