"""GAN, conditional GAN and WGAN on the run layer: the program of one run (sample grids and the
metrics of the generator's samples), the program of several runs in one vmapped state (``--seeds``
and ``--sweep``) and the :class:`jaxrun.Method` that picks between them."""

import functools
import math
import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.program import (DataSettings, StepProgram, Steps, check_data_fits, chunk_of, default_out,
                            load_data, loop_defaults, several_runs)
from jaxrun import aggregate, devices, hosts, keys, plots, sweeps


class GeneratorProgram(StepProgram):
  """GAN, conditional GAN, WGAN: sample grids and the metrics of the generator's samples."""

  def __init__(self, *args):
    super().__init__(*args)
    self._generate = jax.jit(self.algo.generate, static_argnums=2)

  def generate(self, state, key, n: int, labels=None) -> np.ndarray:
    """``n`` samples in batches of 1,000, keys folded from ``key``."""
    out = []
    for i, start in enumerate(range(0, n, 1000)):
      m = min(1000, n - start)
      lab = None if labels is None else jnp.asarray(labels[start:start + m])
      out.append(np.asarray(self._generate(state, jax.random.fold_in(key, i), m, lab)))
    return np.concatenate(out)

  def figure(self, state, path: str, key=None, n: int = 64) -> None:
    """Images: a grid (the conditional GAN: one row per class); points: a scatter over the data."""
    key = self.sample_key if key is None else key
    num_classes = getattr(state.config, "num_classes", 0)
    if not self.dataset.is_image:
      plots.scatter(self.generate(state, key, 2500), self.dataset.test.x[:2500], path)
    elif num_classes:
      labels = np.repeat(np.arange(num_classes), 10)
      plots.image_grid(self.generate(state, key, len(labels), labels), path, ncols=10)
    else:
      plots.image_grid(self.generate(state, key, n), path, ncols=int(math.sqrt(n)))

  def evaluate(self, state, step, samples: int | None = None, key=None):
    """Mode coverage (2-D mixtures); Parzen log-likelihood, and on labelled images the Fréchet
    distance, Inception-style score and class histogram of the project's classifier. ``key``:
    the samples' (default: the run's evaluation key)."""
    key = self.eval_key if key is None else key
    from jaxgan import metrics

    classifier = None
    if self.dataset.is_image and self.dataset.num_classes:
      classifier = metrics.load_or_train_classifier(self.dataset,
                                                    os.path.join(self.out, "classifier.msgpack"))
    gen = lambda n, labels=None: self.generate(state, key, n, labels)
    result = metrics.evaluate(gen, self.dataset, num_classes=getattr(state.config, "num_classes", 0),
                              num_samples=samples or self.settings.eval_samples, classifier=classifier)
    return {}, result


# ---- several runs in one program: --seeds and --sweep (configuration-major: run c * S + s; run s
# has the keys of the standalone run --seed SEED+s; a swept value is a state array the steps read)


def parse_sweep(steps, name: str, config_cls, settings) -> dict[str, tuple]:
  return sweeps.parse(settings.sweep, steps.sweepable, steps.fixed, config_cls, name)


def check_runs_fit(steps, name: str, config, settings) -> None:
  """Every configuration of the sweep is valid; the runs split evenly over --devices."""
  grid = sweeps.grid(config, parse_sweep(steps, name, type(config), settings))
  runs = len(grid) * settings.seeds
  if several_runs(settings) and settings.devices > 1:
    if runs % settings.devices:
      raise ValueError(f"--devices ({settings.devices}) must divide the runs ({len(grid)} "
                       f"configuration(s) x {settings.seeds} seeds = {runs}): each device trains "
                       "the same number of runs.")
    devices.runs_mesh(settings.devices)  # fails early when there are fewer devices


@functools.cache
def runs_chunk(train_step, length: int, n_devices: int, layout: str):  # all given: one cache entry
  """The chunk of :func:`jaxgan.program.make_chunk` over the runs' states and train keys (the data
  shared), laid out as :func:`jaxrun.devices.over_runs` does, the runs split over ``n_devices``."""
  chunk = devices.over_runs(chunk_of(train_step, length), layout, shared=(1,))
  return jax.jit(devices.over_devices(chunk, n_devices, shared=(1,)))


def _stack(trees):
  return jax.tree.map(lambda *x: jnp.stack(x), *trees)


class RunsProgram(GeneratorProgram):
  """A generator method's runs over seeds and a sweep's configurations, in one vmapped state.
  Evaluations (``--eval-every``) also go into the metrics rows, one value per run (``eval_modes``
  ...), so that curves.png shows each metric against the iterations."""

  evaluates_into_rows = True

  def __init__(self, algo, name, dataset, settings, config, loop, out):
    super().__init__(algo, name, dataset, settings, config, loop, out)
    self.sweep_values = parse_sweep(algo, name, type(config), settings)
    self.grid = sweeps.grid(config, self.sweep_values)
    self.seeds = [loop.seed + s for s in range(settings.seeds)]
    streams = [keys.streams(seed, 3) for seed in self.seeds]  # (init, train, sample) per seed
    self.init_key, self.train_key, self.sample_key = (
        jnp.stack([st[i] for _ in self.grid for st in streams]) for i in range(3))
    self.eval_key = jax.vmap(jax.random.fold_in, (0, None))(self.sample_key, 1)
    shape = f"{len(self.grid)}x{len(self.seeds)}" if settings.sweep else f"{len(self.seeds)}"
    self.description = f"{name} {settings.dataset} x{shape}"

  @property
  def labels(self) -> list[str]:
    return [sweeps.label(combo) or f"seed {self.seeds[0]}" for combo, _ in self.grid]

  def run_state(self, state, r: int):
    return jax.tree.map(lambda x: x[r], state)

  def init(self):
    n = self.settings.devices
    if self.algo.hyperparameters is None:
      init = devices.over_runs(lambda k: self.algo.init(k, self.config), self.settings.seed_layout)
      return jax.jit(devices.over_devices(init, n))(*devices.place_runs((self.init_key,), n))
    hyper = _stack([self.algo.hyperparameters(c) for _, c in self.grid for _ in self.seeds])
    init = devices.over_runs(lambda k, h: self.algo.init(k, self.config, h),
                             self.settings.seed_layout)
    return jax.jit(devices.over_devices(init, n))(*devices.place_runs((self.init_key, hyper), n))

  def step(self, state) -> int:
    return int(np.ravel(hosts.to_host(state.step))[0])

  def make_chunk(self, iterations: int):
    n = self.settings.devices
    chunk = runs_chunk(self.algo.train_step, iterations, n, self.settings.seed_layout)
    data, train_keys = devices.place_runs((self.data, self.train_key), n, shared=(0,))
    return lambda state: chunk(*devices.place_runs((state,), n), data, train_keys)

  def compile_chunk(self, iterations: int) -> None:  # (over several devices: compiled at its call)
    if self.settings.devices == 1:
      runs_chunk(self.algo.train_step, iterations, 1, self.settings.seed_layout).lower(
          devices.on_first_device(self.template()), self.data_spec(), self.train_key).compile()

  def rows(self, step, iterations, metrics, seconds):
    """One row per generator iteration, each metric a list over the runs."""
    m = {k: np.asarray(v) for k, v in metrics.items()}  # [runs, iterations]
    return [{"step": step + i + 1, **{k: v[:, i].tolist() for k, v in m.items()}}
            for i in range(iterations)]

  def figure(self, state, path: str, key=None, n: int = 64) -> None:
    """The first seed of each configuration: 2-D points, a scatter panel each; images, a row of
    samples each (the conditional GAN: one per class)."""
    firsts = [c * len(self.seeds) for c in range(len(self.grid))]
    samples = []
    for r in firsts:
      k = self.sample_key[r] if key is None else key
      num_classes = getattr(self.config, "num_classes", 0)
      labels = np.arange(num_classes) if num_classes else None
      m = 2500 if not self.dataset.is_image else (num_classes or min(n, 8))
      samples.append(self.generate(self.run_state(state, r), k, m, labels))
    if not self.dataset.is_image:
      plots.scatter(samples, self.dataset.test.x[:2500], path, self.labels)
    else:
      plots.image_grid(np.concatenate(samples), path, ncols=len(samples[0]))

  def evaluate(self, state, step, samples: int | None = None, key=None):
    """Each run's metrics (its own evaluation key), and per configuration the IQM and mean of
    each metric over the seeds with their 95% bootstrap intervals."""
    results = [GeneratorProgram.evaluate(self, self.run_state(state, r), step, samples,
                                         self.eval_key[r] if key is None else key)[1]
               for r in range(len(self.grid) * len(self.seeds))]
    numbers = [k for k, v in results[0].items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "num_modes"]
    configurations = []
    for c, (combo, _) in enumerate(self.grid):
      per_seed = results[c * len(self.seeds):(c + 1) * len(self.seeds)]
      configurations.append({**combo, "seeds": self.seeds, "per_seed": per_seed,
                             "aggregate": {k: aggregate.summary([r[k] for r in per_seed])
                                           for k in numbers}})
    row = {f"eval_{k}": [r[k] for r in results] for k in numbers}
    if not self.settings.sweep:
      return row, configurations[0]
    return row, {"sweep": self.sweep_values, "configurations": configurations}

  def curves(self, rows, path):
    """Each logged number's IQM over a configuration's seeds with its bootstrap band, the rows
    averaged in at most 100 bins of generator iterations."""
    names = [k for k in dict.fromkeys(k for r in rows for k in r)
             if k not in ("step", "seconds", "n_critic") and isinstance(rows[-1].get(k), list)]
    panels = []
    for k in names:
      have = [r for r in rows if k in r]
      bins = np.array_split(np.arange(len(have)), min(100, len(have)))
      v = np.array([r[k] for r in have], float)
      x = np.array([have[b[-1]]["step"] for b in bins])
      panels.append((k, "generator iteration", f"{k} (IQM, 95% CI)",
                     [(self.labels, x, np.stack([v[b].mean(0) for b in bins]))]))
    if panels:
      plots.banded_curves(panels, path, f"{self.name} {self.settings.dataset}: "
                          f"{len(self.grid)} configuration(s) x {len(self.seeds)} seeds")


def generator_method(name: str, summary: str, steps: Steps, config, presets: dict, preset_for,
                     examples, check=check_data_fits, derived=("data_shape",)):
  """The :class:`jaxrun.Method` of an image (or point) generator trained on ``DataSettings``:
  ``presets`` {name: (dataset, **overrides) -> config}; ``examples() -> {name: config}`` for the
  help."""
  from jaxrun import Method

  def configure(dataset, settings, preset, overrides, steps_):
    """The preset with the flags given; a sweep's first configuration in its swept fields."""
    sweep = parse_sweep(steps, name, config, settings)
    sweeps.refuse_overrides(sweep, overrides)
    return sweeps.grid(presets[preset](dataset, **overrides), sweep)[0][1]

  def check_runs(cfg, dataset, settings):
    check(cfg, dataset, settings)
    check_runs_fit(steps, name, cfg, settings)

  def build(dataset, settings, cfg, loop, out):
    return (RunsProgram if several_runs(settings) else GeneratorProgram)(steps, name, dataset, settings, cfg,
                                                              loop, out)

  return Method(
      name=name, summary=summary, config=config, settings=DataSettings, load=load_data,
      preset_for=preset_for, presets=tuple(presets), configure=configure, check=check_runs,
      build=build,
      loop_defaults=loop_defaults, derived=derived, aliases={"learning_rate": ("--lr",)},
      default_out=default_out(name), examples=examples)
