import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxrl import replay


def _example():
  return {"obs": jnp.zeros((3,), jnp.float32), "id": jnp.zeros((), jnp.int32)}


def _batch(ids):
  ids = jnp.asarray(ids, jnp.int32)
  return {"obs": jnp.stack([ids, ids, ids], -1).astype(jnp.float32), "id": ids}


def test_fills_then_overwrites_the_oldest_first():
  buf = replay.init(5, _example())
  buf = replay.add(buf, _batch([0, 1, 2]))
  assert int(buf.size) == 3 and int(buf.position) == 3
  np.testing.assert_array_equal(buf.data["id"], [0, 1, 2, 0, 0])
  buf = replay.add(buf, _batch([3, 4, 5, 6]))  # wraps: 5 and 6 overwrite 0 and 1
  assert int(buf.size) == 5 and int(buf.position) == 2
  np.testing.assert_array_equal(buf.data["id"], [5, 6, 2, 3, 4])
  np.testing.assert_array_equal(buf.data["obs"][:, 0], [5, 6, 2, 3, 4])
  buf = replay.add(buf, _batch([7]))
  np.testing.assert_array_equal(buf.data["id"], [5, 6, 7, 3, 4])


def test_samples_only_filled_slots_under_jit():
  buf = replay.add(replay.init(100, _example()), _batch(np.arange(1, 8)))  # ids 1..7, rest empty
  batch = jax.jit(replay.sample, static_argnums=2)(buf, jax.random.key(0), 4096)
  ids = np.asarray(batch["id"])
  assert ids.min() >= 1 and ids.max() <= 7
  assert set(ids) == set(range(1, 8))
  np.testing.assert_array_equal(batch["obs"][:, 2], ids)  # rows stay together


def test_sampling_is_uniform_chi_square():
  n, draws = 20, 100_000
  buf = replay.add(replay.init(32, _example()), _batch(np.arange(n)))
  ids = np.asarray(replay.sample(buf, jax.random.key(1), draws)["id"])
  counts = np.bincount(ids, minlength=n)
  assert counts.sum() == draws and len(counts) == n
  _, p = stats.chisquare(counts)  # H0: uniform over the 20 filled slots
  assert p > 0.001, counts


def test_refuses_to_sample_below_the_minimum_size():
  buf = replay.init(100, _example(), min_size=8)
  buf = replay.add(buf, _batch(np.arange(5)))
  assert not bool(replay.can_sample(buf))
  with pytest.raises(ValueError, match="fewer than its minimum of 8"):
    replay.sample(buf, jax.random.key(0), 4)
  buf = replay.add(buf, _batch(np.arange(3)))
  assert bool(replay.can_sample(buf))
  assert replay.sample(buf, jax.random.key(0), 4)["id"].shape == (4,)


def test_bad_arguments():
  with pytest.raises(ValueError, match="capacity"):
    replay.init(0, _example())
  with pytest.raises(ValueError, match="min_size"):
    replay.init(4, _example(), min_size=5)
  with pytest.raises(ValueError, match="cannot add 6"):
    replay.add(replay.init(4, _example()), _batch(np.arange(6)))


def test_vmapped_buffers_are_independent():
  bufs = jax.vmap(lambda _: replay.init(4, _example()))(jnp.arange(3))
  ids = jnp.arange(6).reshape(3, 2)
  bufs = jax.jit(jax.vmap(replay.add))(bufs, jax.vmap(_batch)(ids))
  np.testing.assert_array_equal(bufs.size, [2, 2, 2])
  np.testing.assert_array_equal(bufs.data["id"][:, :2], ids)
  batch = jax.vmap(lambda b, k: replay.sample(b, k, 50))(bufs, jax.random.split(jax.random.key(0), 3))
  for i in range(3):
    assert set(np.asarray(batch["id"][i])) <= set(np.asarray(ids[i]))
