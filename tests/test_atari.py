import importlib.util

import jax
import numpy as np
import pytest

from jaxrl.envs import atari


def test_xla_path_equals_host_path():
  """Same seeds, same actions: envpool stepped inside one jitted scan returns exactly what the
  Python loop gets, through episode ends (episodic life) and envpool's late resets."""
  actions = np.random.default_rng(0).integers(0, 4, (300, 2))
  host = atari.rollout(atari.Pool("Breakout-v5", 2, seed=7), actions, xla=False)
  xla = atari.rollout(atari.Pool("Breakout-v5", 2, seed=7), actions, xla=True)
  assert host["obs"].shape == (300, 2, 4, 84, 84) and host["obs"].dtype == np.uint8
  assert (host["terminated"] | host["truncated"]).sum() > 0  # the comparison crosses episode ends
  for k in host:
    np.testing.assert_array_equal(xla[k], host[k], err_msg=k)


def test_advance_reports_whole_games_under_episodic_life():
  """Breakout has 5 lives: with episodic life a game is 5 learning episodes. ``advance`` reports
  one game with the raw score of all of them, and marks first observations only at game starts
  (after a lost life envpool keeps the running stack)."""
  pool = atari.Pool("Breakout-v5", 1, seed=3)
  actions = np.random.default_rng(0).integers(0, 4, (700, 1))
  res = atari.rollout(pool, actions, xla=False)
  _, state = pool.reset()
  games, episodes, score = [], 0, 0.0
  for t in range(len(actions)):
    step = jax.tree.map(lambda x: x[t], res)
    prev_resetting = bool(state.resetting[0])
    state, stats = atari.advance(state, step)
    episodes += int(step["terminated"][0] | step["truncated"][0])
    score += float(step["raw_reward"][0])
    if bool(stats["game_over"][0]):
      games.append((float(stats["game_return"][0]), episodes))
      assert games[-1][0] == score  # the raw score of the whole game
      assert bool(state.first[0])
      np.testing.assert_array_equal(step["obs"][0], np.broadcast_to(step["obs"][0, 0], (4, 84, 84)))
      score = 0.0
    elif prev_resetting:  # a life-loss reset: the stack goes on, not a first observation
      assert not bool(state.first[0])
      np.testing.assert_array_equal(step["obs"][0, :3], res["obs"][t - 1, 0, 1:])
  assert len(games) >= 2
  for i, (_, eps) in enumerate(games):
    assert eps - (games[i - 1][1] if i else 0) == 5  # five lives, five learning episodes
  assert any(g[0] > 0 for g in games)


def test_mnih2015_options_are_set_explicitly():
  config = atari.make("Pong-v5", 1, seed=0).spec.config
  for name, value in atari.MNIH2015.items():
    assert getattr(config, name) == value, name
  assert config.episodic_life and config.reward_clip and config.max_episode_steps == 27_000


def test_unknown_game_lists_the_games():
  with pytest.raises(ValueError, match="Breakout-v5"):
    atari.make("Breakout-v9", 1, seed=0)


def test_missing_envpool_names_the_extra(monkeypatch):
  real = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "envpool" else real(n, *a))
  with pytest.raises(ImportError, match=r"\.\[atari\]"):
    atari.make("Pong-v5", 1, seed=0)


def test_human_normalized_score():
  assert len(atari.REFERENCE_SCORES) == 57
  assert atari.human_normalized_score("Pong-v5", -20.7) == 0.0
  assert atari.human_normalized_score("Pong", 14.6) == pytest.approx(1.0)
  assert atari.human_normalized_score("Breakout-v5", 30.5 + 28.8) == pytest.approx(2.0)
  with pytest.raises(ValueError, match="no reference scores"):
    atari.human_normalized_score("Adventure-v5", 0.0)
  # Every reference game exists in envpool under the same name.
  games = set(atari.atari_games())
  assert {f"{g}-v5" for g in atari.REFERENCE_SCORES} <= games
