import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import bandits, cli


def test_sample_average_update_is_the_running_mean():
  rewards = {0: [1.0, 0.0, 0.5], 1: [2.0, 4.0]}
  q, counts = jnp.zeros(2), jnp.zeros(2, jnp.int32)
  for arm, r in [(0, 1.0), (1, 2.0), (0, 0.0), (1, 4.0), (0, 0.5)]:
    q, counts = bandits.sample_average_update(q, counts, arm, r)
  np.testing.assert_allclose(q, [np.mean(rewards[0]), np.mean(rewards[1])], rtol=1e-6)
  np.testing.assert_array_equal(counts, [3, 2])


def test_select_arm_breaks_ties_at_random_and_explores_uniformly():
  keys = jax.random.split(jax.random.key(0), 4000)
  ties = jax.vmap(lambda k: bandits.select_arm(k, jnp.array([1.0, 0.0, 1.0]), 0.0))(keys)
  counts = np.bincount(np.asarray(ties), minlength=3)
  assert counts[1] == 0 and abs(counts[0] / 4000 - 0.5) < 0.04
  explore = jax.vmap(lambda k: bandits.select_arm(k, jnp.array([0.0, 9.0, 0.0]), 1.0))(keys)
  assert np.all(np.abs(np.bincount(np.asarray(explore), minlength=3) / 4000 - 1 / 3) < 0.04)


@pytest.mark.parametrize("env", ["BernoulliBandit-misc", "GaussianBandit-misc"])
def test_regret_curves(env):
  curves = bandits.regret_curves(env, jax.random.key(0), [0.0, 0.1, 1.0], steps=300, runs=400)
  regret = np.asarray(curves["cumulative_regret"])
  assert regret.shape == (3, 300) and np.all(np.diff(regret, axis=1) >= -1e-6)
  # Uniform choice (epsilon 1) picks the best arm half the time and keeps losing; epsilon 0.1
  # learns which arm is best and loses far less.
  optimal = np.asarray(curves["optimal"])
  assert abs(optimal[2].mean() - 0.5) < 0.05
  assert optimal[1, -50:].mean() > 0.85
  assert regret[1, -1] < 0.5 * regret[2, -1]


def test_cli_bandit_writes_curves_and_a_plot(tmp_path, capsys):
  out = str(tmp_path / "bandit")
  assert cli.main(["bandit", "--env", "BernoulliBandit-misc", "--steps", "100", "--runs", "50",
                   "--out", out]) == 0
  result = json.loads(capsys.readouterr().out)
  assert result["epsilons"] == [0.0, 0.01, 0.1] and len(result["final_cumulative_regret"]) == 3
  assert (tmp_path / "bandit" / "regret.png").exists()
  saved = json.load(open(tmp_path / "bandit" / "bandit.json"))
  assert len(saved["curves"]["cumulative_regret"][0]) == 100
