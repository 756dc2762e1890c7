"""What a run asks of JAX's devices: before JAX starts a backend, on a CPU-only machine, the CPU
devices a run splits its work over (``--devices N``) and XLA's deterministic GPU kernels
(``--deterministic``); then independent runs (seeds, a sweep's configurations) split over them.

XLA runs each CPU device's program on a thread of its own, so seeds or batch shards split over
CPU devices use every core; one device runs a vmapped program on one core (measured on 2 cores:
8 DQN CartPole seeds 40-53k steps/s on one device, 103-105k on two). On an accelerator the
devices are the chips, and this changes nothing.
"""

import os


def make_cpu_devices(n: int) -> bool:
  """Asks JAX for ``n`` CPU devices in all, this process's share of them where several processes
  run (see :mod:`jaxrun.hosts`); whether it did. It does not where ``n`` <= 1, where the user's
  XLA_FLAGS sets the count, or where a backend has started already (then a run asking for more
  devices than there are fails with a message)."""
  from jaxrun import hosts

  processes = hosts.processes()
  if n % processes:
    raise ValueError(f"--devices {n} does not split over the {processes} processes; pass a "
                     f"multiple of {processes} (each process brings the same number of devices).")
  n //= processes
  if n <= 1 or "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
    return False
  import jax

  try:
    jax.config.update("jax_num_cpu_devices", max(n, jax.config.jax_num_cpu_devices))
  except RuntimeError:  # a backend is up: its devices are what they are
    return False
  return True


DETERMINISTIC_OPS = "--xla_gpu_deterministic_ops=true"


def deterministic_ops(enabled: bool) -> None:
  """``--deterministic``: XLA's deterministic GPU kernels (no autotuned convolution algorithm
  picked by timing, no accumulation by atomics), added to XLA_FLAGS, which XLA reads when JAX
  starts a backend. On an H200 they cost 6% (WGAN), 11% (DQN) and 19% (Reed's text encoder) of
  the speed (benchmarks/results/determinism_gpu.md); CPU kernels are deterministic anyway. Raises
  where a backend is up already, since the flag would then be ignored."""
  flags = os.environ.get("XLA_FLAGS", "")
  if not enabled or "xla_gpu_deterministic_ops" in flags:
    return
  from jax._src import xla_bridge  # private; where it moved, the flag is set and XLA decides

  if getattr(xla_bridge, "backends_are_initialized", lambda: False)():
    raise RuntimeError(f"--deterministic must be chosen before JAX starts: set XLA_FLAGS="
                       f"{DETERMINISTIC_OPS} in the environment of this process.")
  os.environ["XLA_FLAGS"] = f"{flags} {DETERMINISTIC_OPS}".strip()


RUNS_AXIS = "runs"


def runs_mesh(devices: int):
  """A 1-D mesh over the first ``devices`` devices, for independent runs."""
  import jax

  available = jax.devices()
  if devices > len(available):
    raise ValueError(f"--devices {devices} asks for more devices than the {len(available)} "
                     f"{available[0].platform} device(s) JAX has; the command makes CPU devices "
                     "itself on a CPU-only machine, elsewhere pass at most the devices there are.")
  return jax.make_mesh((devices,), (RUNS_AXIS,), devices=available[:devices],
                       axis_types=(jax.sharding.AxisType.Auto,))


RUN_LAYOUTS = ("vmap", "loops")


def check_run_layout(layout: str) -> None:
  """The --seed-layout of a method's settings (checked there, before any work) and of
  :func:`over_runs`."""
  if layout not in RUN_LAYOUTS:
    raise ValueError(f"seed_layout must be one of {RUN_LAYOUTS}, got {layout!r}.")


def over_runs(fn, layout: str, shared: tuple[int, ...] = ()):
  """``fn`` of one run's arrays, mapped over their leading axis of independent runs (``shared``:
  the positions of arguments every run takes whole, a dataset). ``vmap`` batches the runs into
  one computation. ``loops`` traces ``fn`` once per run, side by side in one program: each run
  then is the program of a run alone and gives its bits, at any number of runs and under
  :func:`over_devices` (XLA:CPU vectorises a batched computation by its width, and the last bits
  differ), for a compilation that grows with the runs."""
  import jax
  import jax.numpy as jnp

  check_run_layout(layout)
  if layout == "vmap":
    return lambda *args: jax.vmap(fn, in_axes=tuple(None if i in shared else 0
                                                    for i in range(len(args))))(*args)

  def looped(*args):
    runs = jax.tree.leaves([a for i, a in enumerate(args) if i not in shared])[0].shape[0]
    outs = [fn(*(a if i in shared else jax.tree.map(lambda x: x[r], a) for i, a in enumerate(args)))
            for r in range(runs)]
    return jax.tree.map(lambda *x: jnp.stack(x), *outs)
  return looped


def over_devices(fn, devices: int, shared: tuple[int, ...] = ()):
  """``fn`` of arrays whose leading axis is independent runs (seeds, a sweep's configurations,
  which never interact) with the runs split over ``devices`` devices: each device runs its own,
  and nothing crosses devices until the results are read. ``shared``: the positions of arguments
  every device gets whole (a dataset). A run's result agrees with the single-device run's to
  float32 rounding (DQN's episodes are the same, tested): XLA fuses the partitioned program
  otherwise, so the last bits differ. ``devices`` 1: ``fn`` itself."""
  if devices == 1:
    return fn
  import jax

  split, whole = jax.sharding.PartitionSpec(RUNS_AXIS), jax.sharding.PartitionSpec()

  def mapped(*args):
    specs = tuple(whole if i in shared else split for i in range(len(args)))
    # check_vma=False: a fresh state's constant leaves (zeros) do not vary over the runs while
    # the loop's carry does, and shard_map's type check would refuse that scan carry.
    return jax.shard_map(fn, mesh=runs_mesh(devices), in_specs=specs, out_specs=split,
                         check_vma=False)(*args)
  return mapped


def place_runs(args: tuple, devices: int, shared: tuple[int, ...] = ()) -> tuple:
  """``args`` laid out as :func:`over_devices` with the same ``devices`` and ``shared`` splits
  them (a no-op for arrays already so). Within one process jit would move them itself; across
  processes (:mod:`jaxrun.hosts`) a local array must be placed, each process feeding its own
  devices. ``devices`` 1: ``args`` as they are."""
  if devices == 1:
    return args
  import jax

  from jaxrun import hosts

  mesh, P = runs_mesh(devices), jax.sharding.PartitionSpec
  return tuple(hosts.put(a, jax.sharding.NamedSharding(mesh, P() if i in shared else P(RUNS_AXIS)))
               for i, a in enumerate(args))


def on_first_device(tree):
  """The shapes and dtypes of ``tree``'s arrays (or abstract arrays) as arrays committed to the
  first device, as :func:`jaxrun.run.committed` leaves a one-device state: what a program
  compiled ahead of its arguments is lowered for, so that the call with the arrays finds it."""
  import jax

  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(  # a weak type is another program's input
      x.shape, x.dtype, sharding=device, weak_type=getattr(x, "weak_type", False)), tree)
