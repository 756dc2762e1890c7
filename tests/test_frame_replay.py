"""The frame replay against what an envpool-like environment returned: every rebuilt stack equals
the observation the environment gave, across episode boundaries and ring wrap-around, and the
terminal -> reset pair is never sampled."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import replay

STACK = 4


def _envpool_like_run(num_envs: int, steps: int, seed: int = 0):
  """Records for the frame replay and the true transitions, for ``num_envs`` environments with
  envpool's semantics: a reset observation repeats its first frame; the step that ends an episode
  returns the terminal observation; the next step is the reset (action ignored, reward 0)."""
  rng = np.random.default_rng(seed)
  counter = [0]

  def new_frame():
    counter[0] += 1
    return np.array([counter[0], -counter[0]], np.int32)  # unique; frame id = element 0

  stacks = [[new_frame()] * STACK for _ in range(num_envs)]
  first = [True] * num_envs
  terminal = [False] * num_envs
  left = [int(rng.integers(1, 9)) for _ in range(num_envs)]
  records, truth = [], {}
  for _ in range(steps):
    rec = {k: [] for k in ("frame", "action", "reward", "terminated", "truncated", "first", "valid")}
    for e in range(num_envs):
      obs = np.stack(stacks[e])
      action = int(rng.integers(0, 4))
      if terminal[e]:  # the reset step
        f = new_frame()
        stacks[e], reward, term, trunc, valid = [f] * STACK, 0.0, False, False, False
        next_first, terminal[e], left[e] = True, False, int(rng.integers(1, 9))
      else:
        stacks[e] = stacks[e][1:] + [new_frame()]
        reward, valid, next_first = float(rng.normal()), True, False
        left[e] -= 1
        done = left[e] == 0
        term = done and bool(rng.random() < 0.5)
        trunc = done and not term
        terminal[e] = done
      for k, v in (("frame", obs[-1]), ("action", action), ("reward", reward), ("terminated", term),
                   ("truncated", trunc), ("first", first[e]), ("valid", valid)):
        rec[k].append(v)
      if valid:
        truth[int(obs[-1][0])] = (obs, np.stack(stacks[e]), action, reward, term, trunc)
      first[e] = next_first
    records.append({k: jnp.asarray(np.array(v)) for k, v in rec.items()})
  return records, truth


@pytest.mark.parametrize("num_envs, capacity, steps", [(1, 40, 30), (3, 48, 50), (2, 64, 200)])
def test_rebuilt_stacks_equal_what_the_environment_returned(num_envs, capacity, steps):
  records, truth = _envpool_like_run(num_envs, steps, seed=num_envs)
  buf = replay.init_frames(capacity, np.zeros(2, np.int32), num_envs, STACK)
  add = jax.jit(replay.add_frames)
  for r in records:
    buf = add(buf, r)
  batch = jax.jit(replay.sample_frames, static_argnums=2)(buf, jax.random.key(0), 2000)
  batch = jax.tree.map(np.asarray, batch)
  seen = set()
  for i in range(2000):
    fid = int(batch["obs"][i, -1, 0])
    assert fid in truth, "sampled a reset step or an unknown transition"
    obs, next_obs, action, reward, term, trunc = truth[fid]
    np.testing.assert_array_equal(batch["obs"][i], obs)
    np.testing.assert_array_equal(batch["next_obs"][i], next_obs)
    assert (batch["action"][i], batch["terminated"][i], batch["truncated"][i]) == (action, term, trunc)
    np.testing.assert_allclose(batch["reward"][i], reward, rtol=1e-6)
    seen.add(fid)
  wrapped = steps * num_envs > capacity
  # Uniform over the candidates: with 2000 draws every valid candidate shows up.
  kept = capacity if wrapped else steps * num_envs
  candidates = kept - num_envs - ((STACK - 1) * num_envs if wrapped else 0)
  assert len(seen) >= 0.9 * candidates * (1 - 1 / 4.5)  # reset steps (~1 in 5.5) are not valid
  assert any(truth[f][4] or truth[f][5] for f in seen)  # episode ends are sampled
  assert any(np.any(truth[f][0][0] != truth[f][0][-1]) and truth[f][0][0][0] == truth[f][0][1][0]
             for f in seen)  # and stacks that start at an episode's first frame


def test_bytes_per_transition_counts_one_frame():
  buf = replay.init_frames(1000, np.zeros((84, 84), np.uint8), num_envs=4)
  assert replay.bytes_per_transition(buf) == 84 * 84 + 4 + 4 + 4  # frame, action, reward, 4 flags


def test_frame_replay_bad_arguments():
  with pytest.raises(ValueError, match="multiple of the number"):
    replay.init_frames(10, np.zeros(2), num_envs=3)
  buf = replay.init_frames(30, np.zeros(2, np.int32), num_envs=3)
  with pytest.raises(ValueError, match="records of 3 environments"):
    replay.add_frames(buf, {"frame": jnp.zeros((2, 2), jnp.int32)})


def test_frame_replay_refuses_to_sample_without_a_next_observation():
  buf = replay.init_frames(20, np.zeros(2, np.int32), num_envs=2)
  rec = {"frame": jnp.zeros((2, 2), jnp.int32), "action": jnp.zeros(2, jnp.int32),
         "reward": jnp.zeros(2), "terminated": jnp.zeros(2, bool), "truncated": jnp.zeros(2, bool),
         "first": jnp.ones(2, bool), "valid": jnp.ones(2, bool)}
  buf = replay.add_frames(buf, rec)  # one step: no record has its next observation yet
  assert not bool(replay.can_sample_frames(buf))
  with pytest.raises(ValueError, match="fewer than its minimum"):
    replay.sample_frames(buf, jax.random.key(0), 4)
  buf = replay.add_frames(buf, {**rec, "first": jnp.zeros(2, bool)})
  assert bool(replay.can_sample_frames(buf))
  assert replay.sample_frames(buf, jax.random.key(0), 4)["obs"].shape == (4, 4, 2)
