"""How DQN scales with runs: CartPole-v1 (the `cleanrl` preset, --steps environment steps per run)
with 1, 8, 64 and 256 seeds vmapped, on one device and with the seeds split over --devices devices
(`jaxrl train dqn --seeds N --devices D`; on a CPU-only machine D CPU devices, a thread each); and a
3 x 3 hyperparameter sweep (learning rate x gamma) times 8 seeds in one program
(`jaxrl train dqn --sweep ...`) against the 9 configurations trained as 9 separate runs of 8 seeds,
with whether each configuration's parameters are bitwise those of its separate run. `--layouts vmap
loops` measures both ways a device can lay out its runs (`--seed-layout`): vmapped, or each run its
own loop in the program, which keeps every run bitwise its run alone for a compilation that grows
with the runs.

  python benchmarks/scaling.py --steps 30000 --devices 4
  python benchmarks/scaling.py --steps 30000 --devices 4 --seeds 8 64 --layouts vmap loops --name scaling_layouts
  python benchmarks/scaling.py --gan --devices 2 --name scaling_gan
  python benchmarks/scaling.py --processes --name scaling_processes

`--gan`: instead, the WGAN toy preset on ring8 (`jaxgan train wgan --seeds R`): one run against
R = --gan-runs runs vmapped on one device and split over --devices devices (seconds per 100
generator iterations, compilation excluded).

`--processes`: one data-parallel WGAN run (the toy preset on ring8, `jaxgan train wgan --devices
D`) in one process against the same run over 2 processes (`--coordinator localhost:PORT
--num-processes 2 --process-id I`, D/2 devices each, collectives through gloo), for D in
--process-devices; each side run --repeats times, the sides alternated; generator iterations per
second over the warm chunks, as the command's summary reports them.

Throughput counts every run's environment steps, compilation excluded (each program compiled
ahead of time, then run once). The sweep's wall time includes compilation: a separate run of each
configuration compiles its own program (the config is static), the sweep compiles one.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from jaxrun import devices  # noqa: E402


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--steps", type=int, default=30_000, help="environment steps per run")
  p.add_argument("--seeds", type=int, nargs="+", default=[1, 8, 64, 256])
  p.add_argument("--devices", type=int, default=4, help="also split the seeds over this many devices")
  p.add_argument("--sweep-seeds", type=int, default=8)
  p.add_argument("--layouts", nargs="+", default=["vmap"], choices=devices.RUN_LAYOUTS,
                 help="how each device lays out its runs (--seed-layout): vmapped, or each run its "
                      "own loop in the program")
  p.add_argument("--name", default="scaling")
  p.add_argument("--gan", action="store_true", help="time vmapped WGAN runs instead of DQN")
  p.add_argument("--gan-runs", type=int, default=10)
  p.add_argument("--processes", action="store_true",
                 help="time a data-parallel WGAN run in 1 process against 2 processes instead")
  p.add_argument("--process-devices", type=int, nargs="+", default=[2, 4])
  p.add_argument("--process-steps", type=int, default=100, help="generator iterations per run")
  p.add_argument("--repeats", type=int, default=2)
  args = p.parse_args()
  if args.processes:
    return processes(args)
  devices.make_cpu_devices(args.devices)  # before JAX starts a backend
  if args.gan:
    return gan_runs(args)

  import jax
  import jax.numpy as jnp
  import numpy as np

  import common
  from jaxrl import dqn
  from jaxrl.dqn import program as dqn_program

  config = dqn.DQNConfig.cleanrl("CartPole-v1", total_steps=args.steps,
                                 learning_starts=min(10_000, args.steps // 3))

  def compiled(train, *inputs):
    """(run() -> (states, seconds), seconds to compile)."""
    t = time.perf_counter()
    fn = jax.jit(train).lower(*inputs).compile()
    compile_s = time.perf_counter() - t

    def run():
      t = time.perf_counter()
      states, _ = jax.block_until_ready(fn(*inputs))
      return states, time.perf_counter() - t
    return run, compile_s

  def seeds_train(cfg, hyper_given: bool, n_devices: int, layout: str):
    def one(k, h):
      return dqn.run(dqn.init(k, cfg, hyper=h if hyper_given else None), cfg.num_iterations)
    return devices.over_devices(devices.over_runs(one, layout), n_devices)

  def stacked(configs, seeds):
    return jax.tree.map(lambda *x: jnp.stack(x),
                        *[dqn.hyperparameters(c) for c in configs for _ in range(seeds)])

  def sweep(layout):
    """The 3 x 3 sweep x seeds in one program against 9 separate runs of the seeds: (rows, whether
    each configuration's parameters are bitwise its separate run's, the largest difference)."""
    s = args.sweep_seeds
    grid = dqn.sweep_grid(config, {"learning_rate": (1e-4, 2.5e-4, 1e-3),
                                   "gamma": (0.98, 0.99, 0.995)})
    configs = [c for _, c in grid]
    keys = dqn_program.seed_keys(0, s)[0]
    runs = len(configs) * s
    rows, swept = [], None
    for n_devices in sorted({1, args.devices}):
      if runs % n_devices:
        continue
      t = time.perf_counter()
      run, compile_s = compiled(seeds_train(config, True, n_devices, layout),
                                jnp.concatenate([keys] * len(configs)), stacked(configs, s))
      states, sweep_s = run()
      swept = states if swept is None else swept
      rows.append({"layout": layout, "what": f"3x3 sweep x {s} seeds, one program", "runs": runs,
                   "devices": n_devices, "seconds": round(sweep_s, 2),
                   "compile_s": round(compile_s, 2), "wall_s": round(time.perf_counter() - t, 2),
                   "total_env_steps_per_s": round(runs * args.steps / sweep_s)})
      print(rows[-1], flush=True)
    separate_s = separate_compile = 0.0
    equal, max_diff = [], 0.0
    t = time.perf_counter()
    for c, cfg in enumerate(configs):
      run, cs = compiled(seeds_train(cfg, True, 1, layout), keys, stacked([cfg], s))
      alone, seconds = run()
      separate_s, separate_compile = separate_s + seconds, separate_compile + cs
      pairs = [(np.asarray(a)[c * s:(c + 1) * s], np.asarray(b)) for a, b in
               zip(jax.tree.leaves(swept.params), jax.tree.leaves(alone.params))]
      equal.append(all(np.array_equal(a, b) for a, b in pairs))
      max_diff = max(max_diff, *(float(np.abs(a - b).max()) for a, b in pairs))
    rows.append({"layout": layout, "what": f"9 separate runs of {s} seeds", "runs": runs,
                 "devices": 1, "seconds": round(separate_s, 2),
                 "compile_s": round(separate_compile, 2), "wall_s": round(time.perf_counter() - t, 2),
                 "total_env_steps_per_s": round(runs * args.steps / separate_s)})
    print(rows[-1], flush=True)
    return rows, equal, max_diff

  table, sweep_rows, equal, max_diff = [], [], {}, {}
  for layout in args.layouts:
    for seeds in args.seeds:
      keys = dqn_program.seed_keys(0, seeds)[0]
      for n_devices in sorted({1, args.devices}):
        if seeds % n_devices:
          continue
        run, compile_s = compiled(seeds_train(config, False, n_devices, layout), keys,
                                  stacked([config], seeds))
        _, seconds = run()
        table.append({"layout": layout, "runs": seeds, "devices": n_devices,
                      "seconds": round(seconds, 2), "compile_s": round(compile_s, 2),
                      "total_env_steps_per_s": round(seeds * args.steps / seconds)})
        print(table[-1], flush=True)
    rows, equal[layout], max_diff[layout] = sweep(layout)
    sweep_rows += rows

  bitwise = "; ".join(f"{layout}: {sum(equal[layout])} of {len(equal[layout])}, largest parameter "
                      f"difference {max_diff[layout]:.3g}" for layout in args.layouts)
  notes = (f"CartPole-v1, cleanrl preset, {args.steps:,} environment steps per run (learning from "
           f"{config.learning_starts:,}). total_env_steps_per_s: every run's steps over the run's "
           "seconds, compilation excluded. layout: the runs of a device vmapped, or each its own "
           "loop in the program (--seed-layout loops). Sweep: learning_rate 1e-4, 2.5e-4, 1e-3 x "
           "gamma 0.98, 0.99, 0.995; wall_s includes compilation. Each configuration's parameters "
           f"in the one-device sweep bitwise equal to its separate run's: {bitwise}.")
  md = common.write(args.name, {"steps": args.steps, "sweep_bitwise_equal": equal,
                                "sweep_max_abs_param_difference": max_diff,
                                "sweep": sweep_rows}, table + sweep_rows, notes)
  print(md)


def gan_runs(args):
  import jax

  import common
  from jaxgan import data
  from jaxgan.algos import wgan
  from jaxgan.generators import runs_chunk

  ring = data.load("ring8", None, None, None)
  config = wgan.WGANConfig.toy(ring.data_shape)
  device_data = jax.device_put(ring.train.as_device_data())
  table = []
  for runs, n_devices in ((1, 1), (args.gan_runs, 1), (args.gan_runs, args.devices)):
    if runs % n_devices or (runs == 1 and n_devices > 1):
      continue
    keys = jax.random.split(jax.random.key(0), runs)
    states = jax.vmap(lambda k: wgan.init(k, config))(keys)
    fn = runs_chunk(wgan.train_step, 100, n_devices, "vmap")  # what `--seeds R --devices D` runs
    states, _ = jax.block_until_ready(fn(states, device_data, keys))  # compiles, warms
    t = time.perf_counter()
    jax.block_until_ready(fn(states, device_data, keys))
    seconds = time.perf_counter() - t
    table.append({"runs": runs, "devices": n_devices, "seconds_per_100_iterations": round(seconds, 2),
                  "run_iterations_per_s": round(runs * 100 / seconds, 1)})
    print(table[-1], flush=True)
  base = table[0]["run_iterations_per_s"]
  for row in table:
    row["vs_one_run"] = round(row["run_iterations_per_s"] / base, 2)
  notes = ("WGAN toy preset (MLPs 128 x 3, batch 256, n_critic 5) on ring8. run_iterations_per_s: "
           "generator iterations of all runs per second; vs_one_run: that against one run alone.")
  print(common.write(args.name, {"gan_runs": args.gan_runs}, table, notes))


def _wgan_command(out: str, n_devices: int, steps: int) -> list[str]:
  return [sys.executable, "-m", "jaxgan.cli", "train", "wgan", "--dataset", "ring8", "--preset", "toy",
          "--devices", str(n_devices), "--steps", str(steps), "--log-every", str(steps // 4),
          "--checkpoint-every", str(steps), "--sample-every", "0", "--no-evaluate", "--no-progress",
          "--out", out]


def _summary(stdout: str) -> dict:
  import json

  return json.loads(stdout.strip().splitlines()[-1])  # gloo prints its connections before it


def processes(args):
  import socket
  import subprocess
  import tempfile

  import common

  def run(n_devices: int, n_processes: int, out: str) -> float:
    cmd = _wgan_command(out, n_devices, args.process_steps)
    if n_processes == 1:
      procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    else:
      with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
      procs = [subprocess.Popen(cmd + ["--coordinator", f"localhost:{port}", "--num-processes",
                                       str(n_processes), "--process-id", str(i)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(n_processes)]
    outputs = [p.communicate() for p in procs]
    for p, (_, err) in zip(procs, outputs):
      if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {err[-2000:]}")
    return _summary(outputs[0][0])["steps_per_s"]

  table = []
  with tempfile.TemporaryDirectory() as tmp:
    for n_devices in args.process_devices:
      rates = {1: [], 2: []}
      for r in range(args.repeats):
        for n_processes in ((1, 2) if r % 2 == 0 else (2, 1)):  # sides alternated
          rates[n_processes].append(run(n_devices, n_processes, os.path.join(
              tmp, f"d{n_devices}-p{n_processes}-{r}")))
          print(n_devices, n_processes, rates[n_processes][-1], flush=True)
      for n_processes in (1, 2):
        table.append({"devices": n_devices, "processes": n_processes,
                      "devices_per_process": n_devices // n_processes,
                      "iterations_per_s": " - ".join(f"{v:.1f}" for v in sorted(rates[n_processes])),
                      "best": round(max(rates[n_processes]), 1)})
      table[-1]["vs_one_process"] = round(table[-1]["best"] / table[-2]["best"], 2)
      table[-2]["vs_one_process"] = 1.0
  notes = ("One data-parallel WGAN run (toy preset: MLPs 128 x 3, batch 256, n_critic 5) on ring8, "
           f"{args.process_steps} generator iterations, the batch split over the devices; "
           "iterations_per_s over the warm chunks (the command's steps_per_s), each run's value, "
           "the sides alternated. 2 processes: the same devices' collectives cross processes "
           "through gloo over TCP.")
  print(common.write(args.name, {"process_steps": args.process_steps}, table, notes))


if __name__ == "__main__":
  main()
