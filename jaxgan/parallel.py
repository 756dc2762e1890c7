"""Data parallelism with JAX's own engine.

A step is written the pmap way: a per-device body that takes ``axis_name`` and averages gradients,
batch statistics and metrics with ``lax.pmean`` over it (see ``algos.common``). ``data_parallel``
wraps it with ``jax.shard_map`` over a 1-D device mesh inside ``jax.jit``: parameters and keys are
replicated, the batch is split along its first axis. ``jax.pmap`` is legacy since JAX 0.8 (it is
built on shard_map itself). Across hosts (``jaxrun.hosts``: ``jax.distributed``), the mesh spans
every process's devices and each process feeds its own devices; the dataset is whole on each, and
every device draws its slice of the global batch from the shared key, so a run's result does not
depend on how its devices are spread over processes.
"""

from typing import Callable

import jax
from jax.sharding import NamedSharding, PartitionSpec as P

from jaxrun import hosts

AXIS = "data"


def make_mesh(num_devices: int | None = None, axis_name: str = AXIS) -> jax.sharding.Mesh:
  """A 1-D mesh over the first ``num_devices`` devices (all of them by default)."""
  available = jax.device_count()
  n = available if num_devices is None else num_devices
  if not 1 <= n <= available:
    raise ValueError(f"asked for {n} devices but {available} are available.")
  return jax.make_mesh((n,), (axis_name,), devices=jax.devices()[:n])


def replicate(tree, mesh: jax.sharding.Mesh):
  """``tree`` whole on every device of ``mesh`` (every process's, across hosts)."""
  return hosts.put(tree, NamedSharding(mesh, P()))


def data_parallel(step: Callable, mesh: jax.sharding.Mesh | None = None, *, split_batch: bool = True,
                  axis_name: str = AXIS) -> Callable:
  """Turns ``step(state, batch, key, axis_name=None) -> (state, metrics)`` into a jitted
  multi-device step with the same signature and results.

  ``split_batch=True``: ``batch`` is the global batch, split across devices (its leading size must
  divide by the device count). ``split_batch=False``: ``batch`` is replicated, e.g. the whole
  device-resident dataset that ``train_step`` draws from (the draws are then split).
  """
  mesh = make_mesh(axis_name=axis_name) if mesh is None else mesh
  n = mesh.shape[axis_name]

  def body(state, batch, key):
    return step(state, batch, key, axis_name=axis_name)

  batch_spec = P(axis_name) if split_batch else P()
  # check_vma=False gives pmap's semantics: the gradient of replicated parameters is the
  # per-device gradient, averaged by the step's own pmean. With check_vma=True shard_map would
  # already psum it (the transpose of the implicit broadcast), and the pmean would keep the sum.
  sharded = jax.jit(jax.shard_map(
      body, mesh=mesh, in_specs=(P(), batch_spec, P()), out_specs=(P(), P()), check_vma=False))
  replicated = NamedSharding(mesh, P())

  def wrapped(state, batch, key):
    if split_batch:
      sizes = {x.shape[0] for x in jax.tree.leaves(batch)}
      if any(s % n for s in sizes):
        raise ValueError(f"a global batch of {sorted(sizes)} examples does not split over {n} devices; "
                         f"use a batch size that is a multiple of {n}.")
    # The mesh's axes are explicit: lay the inputs out as the specs say (a no-op once they are;
    # across processes through the host, jaxrun.hosts.put).
    state, key = hosts.put((state, key), replicated)
    batch = hosts.put(batch, NamedSharding(mesh, batch_spec))
    return sharded(state, batch, key)

  return wrapped


def check_batch_divides(batch_size: int, num_devices: int) -> None:
  if batch_size % num_devices:
    raise ValueError(f"batch size {batch_size} does not split over {num_devices} devices; "
                     f"use a multiple of {num_devices}.")
