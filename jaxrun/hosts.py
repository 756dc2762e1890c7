"""Several processes (hosts) training one run with JAX's own engine: ``jax.distributed``.

Every process runs the same command (one per host, or several on one machine); JAX then sees one
global list of devices, and a mesh over them spans the processes. The program is the same SPMD
program everywhere, so every process takes part in every computation on global arrays (a chunk, a
checkpoint save or restore, a gather of metrics), and the run layer alone decides that only
process 0 writes the run directory's logs, figures and eval.json and shows the progress bar.

    --coordinator HOST:PORT --num-processes N --process-id I   explicit (the same HOST:PORT for all)
    (nothing)  under ``srun`` with several tasks, Open MPI's ``mpirun``, or a multi-host TPU slice:
               JAX reads the cluster from the environment

On CPU, the collectives between processes go through gloo (XLA's CPU collectives). A process's
own devices are its ``--devices`` share: ``--devices 4`` over 2 processes gives each 2 devices.
"""

import os

_PROCESSES = 1  # as this module initialised it (read before a backend starts, which jax's is not)


def from_cluster() -> bool:
  """Whether the environment launched several processes of this command, in a way JAX detects:
  ``srun`` with several tasks (SLURM_STEP_ID and SLURM_NTASKS > 1), Open MPI (OMPI_COMM_WORLD_SIZE
  > 1), a multi-host TPU slice (several TPU_WORKER_HOSTNAMES). Read from the environment only; JAX's
  own detection would also ask a cloud metadata server."""
  env = os.environ
  if "SLURM_STEP_ID" in env and int(env.get("SLURM_NTASKS", "1") or 1) > 1:
    return True
  if int(env.get("OMPI_COMM_WORLD_SIZE", "1") or 1) > 1:
    return True
  return len([h for h in env.get("TPU_WORKER_HOSTNAMES", "").split(",") if h]) > 1


def check_flags(coordinator: str | None, num_processes: int | None, process_id: int | None) -> None:
  """Each flag's own error, before anything starts."""
  if coordinator is None:
    given = [f for f, v in (("--num-processes", num_processes), ("--process-id", process_id))
             if v is not None]
    if given:
      raise ValueError(f"{' and '.join(given)} need --coordinator HOST:PORT (process 0's address, "
                       "the same for every process).")
    return
  host, _, port = coordinator.rpartition(":")
  if not host or not port.isdigit():
    raise ValueError(f"--coordinator {coordinator!r} must be HOST:PORT, e.g. localhost:12345.")
  if num_processes is None or process_id is None:
    raise ValueError("--coordinator needs --num-processes N and --process-id I (0 <= I < N).")
  if num_processes < 1 or not 0 <= process_id < num_processes:
    raise ValueError(f"--process-id must be in [0, --num-processes) and --num-processes >= 1; got "
                     f"--process-id {process_id}, --num-processes {num_processes}.")


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> int:
  """Joins the processes of the run (before JAX starts a backend): with ``coordinator``
  explicitly, else where :func:`from_cluster`; otherwise nothing. Returns the process count."""
  global _PROCESSES
  check_flags(coordinator, num_processes, process_id)
  if coordinator is None and not from_cluster():
    return 1
  import jax

  if _PROCESSES > 1:
    return _PROCESSES
  # CPU devices of different processes reach each other through gloo (XLA:CPU's default has no
  # collectives across processes); accelerators use their own.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if coordinator is None:
    jax.distributed.initialize()
  else:
    jax.distributed.initialize(coordinator, num_processes=num_processes, process_id=process_id)
  # Not jax.process_count(): that would start the backend before --devices sets the CPU devices.
  from jax._src import distributed  # private; where it moved, the count given or detected

  _PROCESSES = getattr(distributed.global_state, "num_processes", None) or num_processes or 1
  return _PROCESSES


def processes() -> int:
  """The process count this module initialised (1 when it did not)."""
  return _PROCESSES


def is_main() -> bool:
  """Whether this is process 0 (the one that writes the run's logs)."""
  if _PROCESSES == 1:
    return True
  import jax

  return jax.process_index() == 0


def barrier(name: str) -> None:
  """Every process waits here until all have come (a no-op in one process)."""
  if _PROCESSES > 1:
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(name)


def put(tree, sharding):
  """``tree`` laid out as ``sharding``. Across processes, a local array (a fresh state, a key)
  goes through the host, where every process holds the same value (the runs are seeded alike),
  since devices of different processes exchange arrays only through collectives."""
  import jax

  if sharding.is_fully_addressable:
    return jax.device_put(tree, sharding)
  import numpy as np

  def one(x):
    if isinstance(x, jax.Array) and x.sharding.is_equivalent_to(sharding, x.ndim):
      return x
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      return jax.random.wrap_key_data(one(jax.random.key_data(x)), impl=jax.random.key_impl(x))
    return jax.device_put(np.asarray(x), sharding)
  return jax.tree.map(one, tree)


def to_host(tree):
  """NumPy copies of ``tree``'s arrays, each whole: an array split over processes is gathered
  (every process must call this, in the same order)."""
  import jax
  import numpy as np

  if _PROCESSES == 1:  # the loop's path between chunks: one batched transfer
    return jax.device_get(tree)

  def one(x):
    if not isinstance(x, jax.Array):
      return x
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      return jax.random.wrap_key_data(one(jax.random.key_data(x)), impl=jax.random.key_impl(x))
    if x.is_fully_addressable or x.is_fully_replicated:
      return np.asarray(x)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
  return jax.tree.map(one, tree)
