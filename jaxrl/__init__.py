"""jaxrl: deep Q-learning (Mnih et al. 2013/2015) with a device-resident replay buffer, the whole
training loop in one jitted ``lax.scan``, on gymnax environments; epsilon-greedy bandits.

    from jaxrl import dqn
    config = dqn.DQNConfig.cleanrl("CartPole-v1")
    states, metrics = jax.jit(jax.vmap(dqn.make_train(config)))(keys)
"""

from jaxrl import bandits, dqn, envs, nets, replay
from jaxrl.dqn import DQNConfig, DQNState, make_train

__all__ = ["bandits", "dqn", "envs", "nets", "replay", "DQNConfig", "DQNState", "make_train"]
