"""What the GAN methods share on the run layer: the data settings and their checks, and the program
that scans a method's ``train_step`` over device-resident data (:class:`StepProgram`; the image and
point generators' programs are in ``jaxgan.generators``).

A chunk is one jitted ``lax.scan`` of the method's ``train_step`` over ``log_every`` generator
iterations with the dataset resident on the device; iteration t draws its batches with the key
``fold_in(train_key, t)``, so a resumed run replays exactly the iterations an uninterrupted run
would. The run's keys: (init, train, sample) = ``jaxrun.keys.streams(seed, 3)``; evaluation uses
``fold_in(sample, 1)``. ``--seeds`` and ``--sweep`` train several runs in one vmapped state
(:class:`jaxgan.generators.RunsProgram`).
"""

import dataclasses
import functools
from typing import Callable

import jax

from jaxgan import parallel
from jaxrun import Program, devices, keys

# One place for the loop defaults of every GAN method.
LOOP_DEFAULTS = {"steps": 2000, "log_every": 100, "sample_every": 500, "eval_every": 0,
                 "checkpoint_every": 500, "keep_checkpoints": 3}


@dataclasses.dataclass(frozen=True)
class DataSettings:
  dataset: str = "digits"            # digits (bundled), ring8, grid25, shapes, tfds:NAME (e.g. tfds:mnist) or folder:ROOT
  image_size: int | None = None      # resize images (digits: 8, 16, 32, 64; shapes: 32, 64, 128, 256)
  data_dir: str | None = None        # tensorflow-datasets data directory
  max_examples: int | None = None    # at most this many tfds examples (shapes, folder: images per class)
  devices: int = 1                   # data-parallel over this many devices (several runs: the runs split over them)
  eval_samples: int = 10_000         # generated samples for the image metrics
  seeds: int = 1                     # runs trained together in one program: run s trains what `--seed SEED+s` trains alone (see --seed-layout)
  seed_layout: str = "vmap"          # several runs: vmap batches them, equal to their runs alone to float32 rounding; loops gives each its own loop in the program, bitwise its run alone, its compilation growing with the runs
  sweep: tuple[str, ...] = dataclasses.field(default=(), metadata={"repeatable": True, "metavar": "FIELD=V1,V2"})  # FIELD=V1,V2,...: every combination of the values (times --seeds) in one program; repeat for more fields; gan, cgan: learning_rate k; wgan: learning_rate clip n_critic

  def __post_init__(self):
    object.__setattr__(self, "sweep", tuple(self.sweep))
    for name in ("devices", "eval_samples", "seeds"):
      if getattr(self, name) < 1:
        raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
    devices.check_run_layout(self.seed_layout)


@dataclasses.dataclass(frozen=True)
class CaptionSettings:
  dataset: str = "shapes"            # shapes (generated captioned images) or folder:ROOT (Reed's CUB / Oxford-102 layout)
  image_size: int | None = None      # resize images (shapes: 32, 64, 128, 256)
  data_dir: str | None = None        # tensorflow-datasets data directory
  max_examples: int | None = None    # images per class (shapes: default 60)


def load_data(settings):
  from jaxgan import data

  return data.load(settings.dataset, settings.image_size, settings.data_dir, settings.max_examples)


def load_captioned(settings, method: str):
  dataset = load_data(settings)
  if dataset.train.captions is None:
    raise ValueError(f"{method} trains on captioned images and {dataset.name} has no captions; use "
                     "--dataset shapes or folder:ROOT (Reed's CUB / Oxford-102 layout).")
  return dataset


def default_out(method: str):
  return lambda settings: f"runs/{method}-{settings.dataset.replace(':', '-')}"


def loop_defaults(config, settings) -> dict:
  return LOOP_DEFAULTS


def check_data_fits(config, dataset, settings=None) -> None:
  """The batch fits the data, the data has the config's shape, the batch splits over the devices."""
  n = len(dataset.train)
  if getattr(config, "batch_size", 0) > n:
    raise ValueError(f"batch size {config.batch_size} is larger than the {n} training examples of "
                     f"{dataset.name}; pass --batch-size {n} or less.")
  if tuple(config.data_shape) != dataset.data_shape:
    raise ValueError(f"the config expects data of shape {config.data_shape} but {dataset.name} has "
                     f"{dataset.data_shape}.")
  check_devices(config, settings)


def several_runs(settings) -> bool:
  return getattr(settings, "seeds", 1) > 1 or bool(getattr(settings, "sweep", ()))


def check_devices(config, settings) -> None:
  """The batch splits over --devices, and there are that many (several runs: check_runs_fit)."""
  n_devices = getattr(settings, "devices", 1)
  if n_devices > 1 and not several_runs(settings):
    parallel.check_batch_divides(config.batch_size, n_devices)
    parallel.make_mesh(n_devices)  # fails early when there are fewer devices


def chunk_of(train_step, length: int):
  """(state, data, train_key[, axis_name]) -> (state, metrics [length, ...]), unjitted."""
  def chunk(state, data, train_key, axis_name=None):
    def body(state, _):
      return train_step(state, data, jax.random.fold_in(train_key, state.step), axis_name)
    return jax.lax.scan(body, state, None, length=length)
  return chunk


@functools.cache
def make_chunk(train_step, length: int, n_devices: int):  # always given: one cache entry
  """(state, data, train_key) -> (state, metrics stacked over ``length`` generator iterations),
  the batch split over ``n_devices``. One per (step function, length, devices) in a process, so
  that runs of the same config (a resume, seeds run one after another) reuse its compilation."""
  chunk = chunk_of(train_step, length)
  if n_devices == 1:
    return jax.jit(chunk)
  return parallel.data_parallel(chunk, parallel.make_mesh(n_devices), split_batch=False)


class StepProgram(Program):
  """A jaxgan method's run: ``init(key, config)``, and chunks of ``train_step(state, data, key,
  axis_name)`` on device-resident data, one metrics row per generator iteration."""

  unit = "it"
  steps_name = "generator iterations"
  has_figure = True

  def __init__(self, algo, name: str, dataset, settings, config, loop, out: str,
               description: str | None = None):
    self.algo, self.name, self.dataset, self.settings, self.config = algo, name, dataset, settings, config
    self.out, self.steps = out, loop.steps
    self.init_key, self.train_key, self.sample_key = keys.streams(loop.seed, 3)
    self.eval_key = jax.random.fold_in(self.sample_key, 1)
    self.description = f"{name} {settings.dataset}" if description is None else description
    self._data = None

  def device_data(self) -> dict:
    """What ``train_step`` draws its batches from (put on the device once)."""
    return self.dataset.train.as_device_data()

  @property
  def data(self):
    if self._data is None:  # data-parallel: whole on every device, placed once
      n, data = getattr(self.settings, "devices", 1), self.device_data()
      self._data = (parallel.replicate(data, parallel.make_mesh(n))
                    if n > 1 and not several_runs(self.settings) else jax.device_put(data))
    return self._data

  def init(self):
    return jax.jit(self.algo.init, static_argnums=1)(self.init_key, self.config)

  def step(self, state) -> int:
    return int(state.step)

  def data_spec(self) -> dict:  # device_data's shapes (a program whose data is slow says them)
    return jax.eval_shape(lambda d: d, self.device_data())

  def make_chunk(self, iterations: int):
    chunk = make_chunk(self.algo.train_step, iterations, getattr(self.settings, "devices", 1))
    data, key = self.data, self.train_key
    return lambda state: chunk(state, data, key)

  def compile_chunk(self, iterations: int) -> None:
    if getattr(self.settings, "devices", 1) == 1 and not several_runs(self.settings):
      make_chunk(self.algo.train_step, iterations, 1).lower(
          devices.on_first_device(self.template()), self.data_spec(), self.train_key).compile()

  def rows(self, step, iterations, metrics, seconds):
    return [{"step": step + i + 1, **{k: float(v[i]) for k, v in metrics.items()}}
            for i in range(iterations)]

  def caption_samples(self, state, captions, n, key):
    raise ValueError(f"--caption and --interpolate sample a StackGAN run; {self.out} holds a "
                     f"{self.name} run.")

  def interpolate(self, state, text_a, text_b, steps, key):
    return self.caption_samples(state, [text_a, text_b], steps, key)


@dataclasses.dataclass(frozen=True)
class Steps:
  """A method's pure functions, as its program calls them."""

  init: Callable                    # (key, config[, hyper]) -> state
  train_step: Callable              # (state, data, key, axis_name) -> (state, metrics)
  generate: Callable | None = None  # (state, key, n, labels) -> samples
  hyperparameters: Callable | None = None  # config -> the state's per-run arrays (--sweep)
  sweepable: dict = dataclasses.field(default_factory=dict)  # field -> its values' type
  fixed: dict = dataclasses.field(default_factory=dict)      # field -> why it cannot be swept
