"""Deep Q-learning with experience replay and a target network (Mnih et al. 2013, 2015).

    from jaxrl import dqn
    config = dqn.DQNConfig.cleanrl("CartPole-v1")
    states, metrics = jax.jit(jax.vmap(dqn.make_train(config)))(keys)

  config.py     DQNConfig and the papers' presets (plain data: constructing one builds nothing)
  algorithm.py  Algorithm 1 of Mnih et al. 2015, top to bottom: init, epsilon-greedy acting into
                the replay, the TD target and loss, the update, the target network, one
                iteration, a run, greedy evaluation
  atari.py      the Atari acting step into the frame replay (envpool inside jit), the host-stepped
                run, whole-game evaluation
  program.py    DQN on the run layer (``jaxrl train dqn``): seeds vmapped, or one Atari seed
"""

from jaxrl.dqn.algorithm import (
    DQNState, act_and_store, acting_noise, environment, epsilon, epsilon_greedy,
    epsilon_greedy_with, evaluate, exploration_noise, hyperparameters, init, iteration,
    iteration_keys, learn, loss_fn, make_train, optimizer, policy, q_network, run, summarize, td_loss, td_target, update,
    update_target)
from jaxrl.dqn.atari import (act_and_store_frames, evaluate_atari, make_host_run, restart_pool,
                             store_frames)
from jaxrl.dqn.config import (LOSSES, OPTIMIZERS, PRESETS, SWEEPABLE, DQNConfig, check_environment,
                              network_kind, parse_sweep, sweep_grid)

__all__ = [
    "DQNConfig", "DQNState", "LOSSES", "OPTIMIZERS", "PRESETS", "SWEEPABLE", "act_and_store",
    "act_and_store_frames", "acting_noise", "check_environment", "environment", "epsilon",
    "epsilon_greedy", "epsilon_greedy_with", "evaluate", "evaluate_atari", "exploration_noise",
    "hyperparameters", "init", "iteration", "iteration_keys", "learn", "loss_fn", "make_host_run",
    "make_train",
    "network_kind", "optimizer", "parse_sweep", "policy", "q_network", "restart_pool", "run",
    "store_frames", "summarize", "sweep_grid", "td_loss", "td_target", "update", "update_target"]
