"""PixelDA on the run layer: the two domains as settings, the evaluation the paper reports (the
accuracy on the target's test split of the adapted task classifier, against the source-only and
target-only classifiers), the figure of adaptations, and ``METHOD``.

The references (T trained alone on labelled source images, and on labelled target images) are
trained with a key of the run's own, so they are the same whenever they are made; a run's
evaluation saves them in its directory (``references.msgpack``) and reuses them.
"""

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import program
from jaxgan.algos.pixelda import (PixelDAConfig, adapt, classify, init, task_logits,
                                  train_step, train_task_classifier)
from jaxrun import Method, files

# Bousmalis et al. 2017, Table 1, MNIST -> MNIST-M (accuracy, %).
PAPER_TABLE_1 = {"source_only": 63.6, "pixelda": 98.2, "target_only": 96.4}
DATA_NOTE = ("digits -> digits-m is scikit-learn's 8x8 digits with procedural backgrounds, not "
             "MNIST -> MNIST-M: its figures are not the paper's and are not comparable to them.")


@dataclasses.dataclass(frozen=True)
class PixelDASettings:
  source: str = "digits"             # labelled source: digits (bundled; grey as RGB) or tfds:NAME (e.g. tfds:mnist)
  target: str = "digits-m"           # target: digits-m (generated from digits as MNIST-M from MNIST) or folder:ROOT (MNIST-M's layout)
  image_size: int | None = None      # resize both domains (digits: 8, 16, 32; default 16 for digits, else as stored; the paper: 32)
  data_dir: str | None = None        # tensorflow-datasets data directory
  max_examples: int | None = None    # at most this many images per split (tfds and folder data)
  devices: int = 1                   # data-parallel over this many devices

  def __post_init__(self):
    if self.devices < 1:
      raise ValueError(f"devices must be >= 1, got {self.devices}.")
    if self.max_examples is not None and self.max_examples < 1:
      raise ValueError(f"max_examples must be >= 1, got {self.max_examples}.")


def load(settings: PixelDASettings):
  from jaxgan.data.domains import load_domains

  return load_domains(settings.source, settings.target, settings.image_size, settings.data_dir,
                      settings.max_examples)


def check(config: PixelDAConfig, domains, settings=None) -> None:
  """The batch fits both training sets, the config fits the data, the batch splits over devices."""
  for name, split in (("source", domains.source.train), ("target", domains.target.train)):
    if config.batch_size > len(split):
      raise ValueError(f"batch size {config.batch_size} is larger than the {len(split)} {name} "
                       f"training images; pass --batch-size {len(split)} or less.")
  if tuple(config.data_shape) != domains.data_shape or config.num_classes != domains.num_classes:
    raise ValueError(f"the config expects {config.num_classes} classes of {config.data_shape} "
                     f"images; the domains have {domains.num_classes} of {domains.data_shape}.")
  program.check_devices(config, settings)


_adapt = jax.jit(adapt)
_classify = jax.jit(classify, static_argnums=2)
_task_logits = jax.jit(task_logits, static_argnums=(0, 3))
_train_task_classifier = jax.jit(train_task_classifier, static_argnums=(1, 4))


def _accuracy(logits_fn, x: np.ndarray, y: np.ndarray, batch: int = 500) -> float:
  hits = sum(int(np.sum(np.asarray(logits_fn(jnp.asarray(x[i:i + batch]))).argmax(-1) == y[i:i + batch]))
             for i in range(0, len(x), batch))
  return hits / len(x)


def train_references(key, config: PixelDAConfig, domains) -> dict:
  """{'source_only', 'target_only'}: T's parameters trained on labelled source images (source
  tower) and on labelled target-train images (adapted/target tower)."""
  train = _train_task_classifier
  k_s, k_t = jax.random.split(key)
  return {"source_only": train(k_s, config, jnp.asarray(domains.source.train.x),
                               jnp.asarray(domains.source.train.y), "source"),
          "target_only": train(k_t, config, jnp.asarray(domains.target.train.x),
                               jnp.asarray(domains.target.train.y), "adapted")}


def pixel_statistics(images: np.ndarray) -> np.ndarray:
  """Low-order statistics of a set of images: per channel, the mean and std of the pixels and the
  mean absolute horizontal difference (how much texture)."""
  return np.concatenate([images.mean((0, 1, 2)), images.std((0, 1, 2)),
                         np.abs(np.diff(images, axis=2)).mean((0, 1, 2))])


def pixel_statistics_gap(images: np.ndarray, target: np.ndarray) -> float:
  """L1 distance between the :func:`pixel_statistics` of ``images`` and of ``target``: what G
  must close at the pixel level (source digits are grey on black, digits-m's are coloured)."""
  return float(np.abs(pixel_statistics(images) - pixel_statistics(target)).sum())


def evaluate(state, domains, references: dict, key) -> dict:
  """Accuracy on the target's test split of PixelDA's T (adapted tower), of the source-only and
  target-only classifiers; the share of the gap PixelDA closes; label preservation: the
  target-only classifier's accuracy on G(x_s) of the source's test images against their labels;
  the pixel-statistics gap to the target's test images of the source's and of G(x_s)."""
  c = state.config
  x, y = domains.target.test.floats(), domains.target.test.y
  source_only = lambda b: _task_logits(c, references["source_only"], b, "source")
  target_only = lambda b: _task_logits(c, references["target_only"], b, "adapted")
  out = {"pixelda": _accuracy(lambda b: _classify(state, b, "adapted"), x, y),
         "source_only": _accuracy(source_only, x, y), "target_only": _accuracy(target_only, x, y)}
  gap = out["target_only"] - out["source_only"]
  out["gap_closed"] = (out["pixelda"] - out["source_only"]) / gap if gap > 0 else None
  source = domains.source.test.floats()
  adapted = np.concatenate([np.asarray(_adapt(state, jax.random.fold_in(key, i),
                                              jnp.asarray(source[i:i + 500])))
                            for i in range(0, len(source), 500)])
  out["label_preservation"] = _accuracy(target_only, adapted, domains.source.test.y)
  out["pixel_statistics_gap"] = {"source": pixel_statistics_gap(source, x),
                                 "adapted": pixel_statistics_gap(adapted, x)}
  return {**out, "paper_table_1_mnist_to_mnist_m": PAPER_TABLE_1,
          "note": DATA_NOTE if domains.target.name == "digits-m" else ""}


def figure(state, domains, path: str, key, columns: int = 8) -> None:
  """Rows: source images, their adaptations for two noise draws, real target images."""
  from jaxrun import plots

  source = jnp.asarray(domains.source.test.floats()[:columns])
  rows = [source] + [_adapt(state, jax.random.fold_in(key, i), source) for i in range(2)]
  rows.append(jnp.asarray(domains.target.test.floats()[:columns]))
  plots.image_grid(np.concatenate([np.asarray(r) for r in rows]), path, ncols=columns)


class PixelDAProgram(program.StepProgram):
  def __init__(self, domains, settings, config, loop, out):
    super().__init__(program.Steps(init, train_step), "pixelda", domains, settings, config, loop, out,
                     description=f"pixelda {settings.source} -> {settings.target}")

  def device_data(self) -> dict:
    d = self.dataset
    return {"source_x": d.source.train.x, "source_y": d.source.train.y, "target_x": d.target.train.x}

  def references(self, state) -> dict:
    template = {"source_only": state.discriminator.params["task"],
                "target_only": state.discriminator.params["task"]}
    return files.cached_tree(os.path.join(self.out, "references.msgpack"), template,
                             lambda: train_references(jax.random.fold_in(self.eval_key, 2),
                                                      self.config, self.dataset))

  def evaluate(self, state, step, samples=None):
    return {}, evaluate(state, self.dataset, self.references(state), self.eval_key)

  def figure(self, state, path: str, key=None, n: int = 32) -> None:
    figure(state, self.dataset, path, self.sample_key if key is None else key,
           columns=max(1, min(16, n // 4)))


def configure(domains, settings, preset, overrides: dict, steps) -> PixelDAConfig:
  return getattr(PixelDAConfig, preset)(domains.data_shape, domains.num_classes, **overrides)


METHOD = Method(
    name="pixelda",
    summary="pixel-level domain adaptation, PixelDA (Bousmalis et al. 2017)",
    config=PixelDAConfig, settings=PixelDASettings, load=load, configure=configure, check=check,
    presets=("cpu", "paper"),
    preset_for=lambda domains, settings: "cpu" if domains.target.name == "digits-m" else "paper",
    derived=("data_shape", "num_classes"), build=PixelDAProgram,
    loop_defaults=lambda config, settings: {**program.LOOP_DEFAULTS, "steps": 3000},
    aliases={"learning_rate": ("--lr",)},
    default_out=lambda s: "runs/pixelda-" + "-".join(
        name.replace(":", "-").replace("/", "-").strip("-") for name in (s.source, s.target)),
    examples=lambda: {"cpu": PixelDAConfig.cpu(), "paper": PixelDAConfig.paper()})
