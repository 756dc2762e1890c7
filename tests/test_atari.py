import importlib.util

import numpy as np
import pytest

from jaxrl.envs import atari


def test_xla_path_equals_host_path():
  """Same seeds, same actions: envpool stepped inside one jitted scan returns exactly what the
  Python loop gets, through episode ends (episodic life) and envpool's late resets."""
  actions = np.random.default_rng(0).integers(0, 4, (300, 2))
  host = atari.host_rollout(atari.make("Breakout-v5", 2, seed=7), actions)
  xla = atari.xla_rollout(atari.make("Breakout-v5", 2, seed=7), actions)
  assert host["obs"].shape == (301, 2, 4, 84, 84) and host["obs"].dtype == np.uint8
  assert host["done"].sum() > 0  # the comparison crosses episode boundaries
  np.testing.assert_array_equal(xla["obs"], host["obs"])
  np.testing.assert_array_equal(xla["reward"], host["reward"])
  np.testing.assert_array_equal(xla["done"], host["done"])


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
