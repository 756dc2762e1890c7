"""DQN on envpool Atari: the XLA and host paths, the frame replay against what envpool returned,
the command line (the loop's guarantees: tests/test_run_layer.py)."""

import dataclasses
import hashlib
import json

import chex
import jax
import numpy as np
import pytest

from jaxrl import cli, dqn, replay
from jaxrl.dqn import program as dqn_program
from jaxrl.envs import atari

# Breakout (5 lives: episodic-life resets and game resets), two environments, a small ring.
SMALL = dqn.DQNConfig.nature("Breakout-v5", total_steps=1_600, buffer_size=600, num_envs=2,
                             learning_starts=200, exploration_steps=800, target_update_every=25,
                             eval_episodes=2)


def _init(config, seed=1):
  pool = atari.Pool(config.env, config.num_envs, seed, **config.pool_options)
  return pool, jax.jit(lambda k, s: dqn.init(k, config, s))(jax.random.key(0), pool.reset())


@pytest.mark.slow  # 49 s on 2 cores; test_atari's path test keeps the two paths' equality
def test_xla_and_host_paths_train_the_same_agent():
  """The same seeds through both paths: the same replay contents bit for bit and the same
  parameters after 101 updates (the pure functions are the same; only the jit boundaries differ)."""
  pool_x, state_x = _init(SMALL)
  act = lambda s, n: dqn.act_and_store_frames(pool_x.xla_step, s, n)
  state_x, m_x = jax.jit(lambda s: dqn.run(s, 150, act))(state_x)
  pool_h, state_h = _init(SMALL)
  state_h, m_h = dqn.make_host_run(pool_h.host_step)(state_h, 150)
  assert int(state_x.updates) == int(state_h.updates) == 101
  chex.assert_trees_all_equal(state_x.buffer, state_h.buffer)
  chex.assert_trees_all_close(state_x.params, state_h.params, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(m_x["loss"], m_h["loss"], rtol=1e-4, atol=1e-7)


def _key(obs) -> bytes:
  return hashlib.sha1(np.ascontiguousarray(obs)).digest()


def test_frame_replay_rebuilds_what_envpool_returned():
  """Acting with the DQN's own bookkeeping on Breakout (life losses, game over, the ring wrapping
  around, a pool restart as after a checkpoint): every sampled (obs, next_obs) pair is a pair the
  environment returned on a real step, never envpool's terminal -> reset step nor a pair across
  the restart."""
  config = dataclasses.replace(SMALL, buffer_size=400)
  pool, state = _init(config, seed=5)
  policy, store = jax.jit(dqn.policy), jax.jit(dqn.store_frames)
  noise = jax.jit(dqn.acting_noise, static_argnums=(1, 2))(jax.random.key(2), config, 700)
  real, reset_pairs = {}, set()  # (obs, next_obs) of real steps -> outcomes; of reset steps
  for t in range(700):
    if t == 550:  # the ring keeps about 200 steps: samples span the restart
      pool = atari.Pool(config.env, config.num_envs, 11, **config.pool_options)
      state = dqn.restart_pool(state, pool.reset())
    obs, resetting = np.asarray(state.obs), np.asarray(state.env_state.resetting)
    actions = policy(state, jax.tree.map(lambda x: x[t], noise))
    pool_state, result = pool.host_step(state.env_state, actions)
    state, _ = store(state.replace(env_state=pool_state), actions, result)
    for e in range(config.num_envs):
      pair = _key(obs[e]) + _key(np.asarray(result["obs"][e]))
      if resetting[e]:
        reset_pairs.add(pair)
      else:  # (a still screen can repeat a pair: keep every outcome seen with it)
        real.setdefault(pair, set()).add((int(actions[e]), bool(result["terminated"][e])))
  assert len(reset_pairs - real.keys()) >= 2  # life-loss and game resets happened
  assert any(term for outcomes in real.values() for _, term in outcomes)
  batch = jax.tree.map(np.asarray, replay.sample(state.buffer, jax.random.key(3), 1_000))
  terminals = 0
  for i in range(1_000):
    pair = _key(batch["obs"][i]) + _key(batch["next_obs"][i])
    assert pair in real, "a sampled pair is not what envpool returned on a real step"
    assert (batch["action"][i], batch["terminated"][i]) in real[pair]
    terminals += int(batch["terminated"][i])
  assert terminals > 0


def test_cli_trains_and_evaluates_an_atari_game(tmp_path, capsys):
  out = str(tmp_path / "pong")
  assert cli.main(["train", "dqn", "--env", "Pong-v5", "--steps", "800", "--buffer-size", "400",
                   "--learning-starts", "200", "--exploration-steps", "400", "--chunk-steps", "400",
                   "--eval-episodes", "1", "--eval-every", "0", "--out", out, "--no-progress"]) == 0
  record = json.load(open(f"{out}/config.json"))
  assert record["preset"] == "nature" and record["config"]["loss"] == "huber"
  capsys.readouterr()
  assert cli.main(["eval", out, "--episodes", "1"]) == 0
  result = json.loads(capsys.readouterr().out)
  # A Pong game runs to 21 points: the raw score of a whole game lies in [-21, 21].
  assert -21 <= result["return_mean"] <= 21 and result["epsilon"] == 0.05
  assert "human_normalized_score" in result


@pytest.mark.parametrize("argv, message", [
    (["--env", "Pongg-v5"], "unknown Atari game"),
    (["--env", "Pong-v4"], "envpool Atari games"),
    (["--env", "Pong-v5", "--seeds", "2"], "one seed"),
    (["--env", "Pong-v5", "--buffer-size", "1001", "--num-envs", "2", "--train-every", "4"],
     "multiple of num_envs"),
])
def test_cli_atari_bad_input(tmp_path, capsys, argv, message):
  assert cli.main(["train", "dqn", *argv, "--out", str(tmp_path / "r"), "--no-progress"]) == 2
  assert message in capsys.readouterr().err
  assert not (tmp_path / "r").exists()


def test_presets_follow_their_sources():
  nature = dqn.DQNConfig.preset("nature", "Pong-v5")
  assert (nature.optimizer, nature.learning_rate, nature.rmsprop_decay, nature.rmsprop_eps,
          nature.rmsprop_centered, nature.loss) == ("rmsprop", 2.5e-4, 0.95, 0.01, True, "huber")
  assert (nature.target_update_every, nature.target_update_unit, nature.train_every) == (
      10_000, "updates", 4)
  assert (nature.buffer_size, nature.learning_starts, nature.epsilon_decay_steps) == (
      1_000_000, 50_000, 1_000_000)
  assert not nature.fire_reset and nature.sticky_actions == 0.0
  clean = dqn.DQNConfig.preset("cleanrl-atari", "Breakout-v5")
  assert (clean.optimizer, clean.learning_rate, clean.loss, clean.target_update_every) == (
      "adam", 1e-4, "squared", 1_000)
  assert (clean.epsilon_end, clean.epsilon_decay_steps, clean.learning_starts) == (
      0.01, 1_000_000, 80_000)
  assert clean.fire_reset and dqn.network_kind(clean, dqn.environment(clean.env)) == "nature"


def test_tpu_falls_back_to_the_host_path_and_says_so(monkeypatch, capsys):
  monkeypatch.setattr(jax, "default_backend", lambda: "tpu")
  assert dqn_program.env_stepping(dqn_program.DQNSettings("Pong-v5")) == "host"
  assert "no XLA target for TPU" in capsys.readouterr().err
  explicit = dqn_program.DQNSettings("Pong-v5", env_stepping="xla")
  assert dqn_program.env_stepping(explicit) == "xla"  # an explicit choice stands
