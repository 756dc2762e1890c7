"""What the GAN methods share on the run layer: the data settings, the program that trains an image
(or point) generator, sample figures and the image metrics.

A chunk is one jitted ``lax.scan`` of the method's ``train_step`` over ``log_every`` generator
iterations with the dataset resident on the device; iteration t draws its batches with the key
``fold_in(train_key, t)``, so a resumed run replays exactly the iterations an uninterrupted run
would. The run's keys: (init, train, sample) = ``jaxrun.keys.streams(seed, 3)``; evaluation uses
``fold_in(sample, 1)``.
"""

import dataclasses
import functools
import math
import os
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxrun import Program, keys, plots

# One place for the loop defaults of every GAN method.
LOOP_DEFAULTS = {"steps": 2000, "log_every": 100, "sample_every": 500, "eval_every": 0,
                 "checkpoint_every": 500, "keep_checkpoints": 3}


@dataclasses.dataclass(frozen=True)
class DataSettings:
  dataset: str = "digits"            # digits (bundled), ring8, grid25, shapes, tfds:NAME (e.g. tfds:mnist) or folder:ROOT
  image_size: int | None = None      # resize images (digits: 8, 16, 32, 64; shapes: 32, 64, 128, 256)
  data_dir: str | None = None        # tensorflow-datasets data directory
  max_examples: int | None = None    # at most this many tfds examples (shapes, folder: images per class)
  devices: int = 1                   # data-parallel over this many devices
  eval_samples: int = 10_000         # generated samples for the image metrics

  def __post_init__(self):
    for name in ("devices", "eval_samples"):
      if getattr(self, name) < 1:
        raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")


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


def check_devices(config, settings) -> None:
  """The batch splits over ``settings.devices``, and there are that many."""
  devices = getattr(settings, "devices", 1)
  if devices > 1:
    from jaxgan import parallel

    parallel.check_batch_divides(config.batch_size, devices)
    parallel.make_mesh(devices)  # fails early when there are fewer devices


@functools.cache
def make_chunk(train_step, length: int, devices: int = 1):
  """(state, data, train_key) -> (state, metrics stacked over ``length`` generator iterations).
  One per (step function, length, devices) in a process, so that runs of the same config (a
  resume, seeds run one after another) reuse its compilation."""
  def chunk(state, data, train_key, axis_name=None):
    def body(state, _):
      return train_step(state, data, jax.random.fold_in(train_key, state.step), axis_name)
    return jax.lax.scan(body, state, None, length=length)

  if devices == 1:
    return jax.jit(chunk)
  from jaxgan import parallel

  return parallel.data_parallel(chunk, parallel.make_mesh(devices), split_batch=False)


def generate_in_batches(generate, state, key, n: int, labels=None) -> np.ndarray:
  """``generate(state, key, m, labels)`` (jitted) in batches of 1,000, keys folded from ``key``."""
  out = []
  for i, start in enumerate(range(0, n, 1000)):
    m = min(1000, n - start)
    lab = None if labels is None else jnp.asarray(labels[start:start + m])
    out.append(np.asarray(generate(state, jax.random.fold_in(key, i), m, lab)))
  return np.concatenate(out)


class StepProgram(Program):
  """A jaxgan method's run: ``init(key, config)``, and chunks of ``train_step(state, data, key,
  axis_name)`` on device-resident data, one metrics row per generator iteration."""

  unit = "it"
  steps_name = "generator iterations"
  has_figure = True

  def __init__(self, algo, name: str, dataset, settings, config, loop, out: str,
               description: str | None = None):
    self.algo, self.name, self.dataset, self.settings, self.config = algo, name, dataset, settings, config
    self.out = out
    self.init_key, self.train_key, self.sample_key = keys.streams(loop.seed, 3)
    self.eval_key = jax.random.fold_in(self.sample_key, 1)
    self.description = f"{name} {settings.dataset}" if description is None else description
    self._data = None

  def device_data(self) -> dict:
    """What ``train_step`` draws its batches from (put on the device once)."""
    return self.dataset.train.as_device_data()

  @property
  def data(self):
    if self._data is None:
      self._data = jax.device_put(self.device_data())
    return self._data

  def init(self):
    return jax.jit(self.algo.init, static_argnums=1)(self.init_key, self.config)

  def step(self, state) -> int:
    return int(state.step)

  def make_chunk(self, iterations: int):
    chunk = make_chunk(self.algo.train_step, iterations, getattr(self.settings, "devices", 1))
    data, key = self.data, self.train_key
    return lambda state: chunk(state, data, key)

  def rows(self, step, iterations, metrics, seconds):
    return [{"step": step + i + 1, **{k: float(v[i]) for k, v in metrics.items()}}
            for i in range(iterations)]

  def caption_samples(self, state, captions, n, key):
    raise ValueError(f"--caption and --interpolate sample a StackGAN run; {self.out} holds a "
                     f"{self.name} run.")

  def interpolate(self, state, text_a, text_b, steps, key):
    return self.caption_samples(state, [text_a, text_b], steps, key)


class GeneratorProgram(StepProgram):
  """GAN, conditional GAN, WGAN: sample grids and the metrics of the generator's samples."""

  def __init__(self, *args):
    super().__init__(*args)
    self._generate = jax.jit(self.algo.generate, static_argnums=2)

  def generate(self, state, key, n: int, labels=None) -> np.ndarray:
    return generate_in_batches(self._generate, state, key, n, labels)

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

  def evaluate(self, state, step, samples: int | None = None):
    """Mode coverage (2-D mixtures); Parzen log-likelihood, and on labelled images the Fréchet
    distance, Inception-style score and class histogram of the project's classifier."""
    from jaxgan import metrics

    classifier = None
    if self.dataset.is_image and self.dataset.num_classes:
      classifier = metrics.load_or_train_classifier(self.dataset,
                                                    os.path.join(self.out, "classifier.msgpack"))
    gen = lambda n, labels=None: self.generate(state, self.eval_key, n, labels)
    result = metrics.evaluate(gen, self.dataset, num_classes=getattr(state.config, "num_classes", 0),
                              num_samples=samples or self.settings.eval_samples, classifier=classifier)
    return {}, result


@dataclasses.dataclass(frozen=True)
class Steps:
  """A method's pure functions, as its program calls them."""

  init: Callable                    # (key, config) -> state
  train_step: Callable              # (state, data, key, axis_name) -> (state, metrics)
  generate: Callable | None = None  # (state, key, n, labels) -> samples


def generator_method(name: str, summary: str, steps: Steps, config, presets: dict, preset_for,
                     examples, check=check_data_fits, derived=("data_shape",)):
  """The :class:`jaxrun.Method` of an image (or point) generator trained on ``DataSettings``:
  ``presets`` {name: (dataset, **overrides) -> config}; ``examples() -> {name: config}`` for the
  help."""
  from jaxrun import Method

  def configure(dataset, settings, preset, overrides, steps_):
    return presets[preset](dataset, **overrides)

  return Method(
      name=name, summary=summary, config=config, settings=DataSettings, load=load_data,
      preset_for=preset_for, presets=tuple(presets), configure=configure, check=check,
      build=lambda dataset, settings, cfg, loop, out: GeneratorProgram(steps, name, dataset, settings,
                                                                       cfg, loop, out),
      loop_defaults=loop_defaults, derived=derived, aliases={"learning_rate": ("--lr",)},
      default_out=default_out(name), examples=examples)
