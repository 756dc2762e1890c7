"""The training loop every method shares.

Python touches the loop only between chunks: a chunk is one jitted ``lax.scan`` of ``train_step``
over ``log_every`` generator iterations, with the dataset resident on the device. Between chunks:
NaN check, metrics (JSON lines), progress bar, sample grids, orbax checkpoints. The key of
generator iteration t is ``fold_in(train_key, t)``, so a run resumed from a checkpoint at step t
replays exactly the iterations an uninterrupted run would (bitwise; tested).

Run directory:
  config.json      method, dataset, run settings and the method's config (rebuilds everything)
  checkpoints/     orbax checkpoints of the state (only finite states are ever saved)
  metrics.jsonl    one line per generator iteration
  samples/         sample grids at intervals (fixed noise, so grids are comparable)
  samples.png, curves.png, eval.json   at the end
"""

import dataclasses
import functools
import json
import math
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from jaxgan import data as data_lib
from jaxgan import metrics as metrics_lib
from jaxgan import parallel, plots
from jaxgan.algos import METHODS, gan, stackgan, text_encoder, wgan


class TrainingDivergedError(RuntimeError):
  """A NaN or inf appeared; the run stopped and its last good checkpoint was kept."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
  method: str
  dataset: str
  steps: int                      # generator iterations in total
  seed: int = 0
  image_size: int | None = None
  data_dir: str | None = None
  max_examples: int | None = None
  log_every: int = 100            # generator iterations per jitted chunk
  sample_every: int = 1000
  checkpoint_every: int = 1000
  keep_checkpoints: int = 3
  devices: int = 1                # data-parallel over this many devices
  evaluate: bool = True
  eval_samples: int = 10_000

  def __post_init__(self):
    if self.method not in METHODS:
      raise ValueError(f"unknown method {self.method!r}; choose one of {sorted(METHODS)}.")
    for name in ("steps", "log_every", "sample_every", "checkpoint_every", "devices", "eval_samples"):
      if getattr(self, name) < 1:
        raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
    if self.method in ("text-encoder", "stackgan") and self.devices != 1:
      raise ValueError(f"{self.method} trains on one device; drop --devices.")


CONFIG_CLASSES = {"gan": gan.GANConfig, "cgan": gan.GANConfig, "wgan": wgan.WGANConfig,
                  "text-encoder": text_encoder.TextEncoderConfig, "stackgan": stackgan.StackGANConfig}


def default_config(method: str, dataset: data_lib.Dataset, **overrides):
  """The method's preset for the dataset (2-D points: the toy MLPs; images: the paper networks),
  with ``overrides`` applied."""
  shape = dataset.data_shape
  if method in ("text-encoder", "stackgan") and dataset.train.captions is None:
    raise ValueError(f"{method} trains on captioned images and {dataset.name} has no captions; use "
                     "--dataset shapes or folder:ROOT (Reed's CUB / Oxford-102 layout).")
  if method == "stackgan":
    if overrides.get("stage", 1) == 2:  # the text encoder and embedding size are Stage-I's
      if overrides.get("text_encoder"):
        raise ValueError("Stage-II uses its Stage-I run's text encoder; drop --text-encoder.")
      if not overrides.get("stage1"):
        raise ValueError("Stage-II refines a trained Stage-I: pass --stage1 DIR.")
      stage1 = stackgan.load_stage1(overrides["stage1"]).config
      if shape[0] != 4 * stage1.data_shape[0]:
        raise ValueError(f"Stage-II refines the {stage1.data_shape[0]} px Stage-I images 4x: pass "
                         f"--image-size {4 * stage1.data_shape[0]}.")
      overrides = {"text_encoder": stage1.text_encoder, **overrides}
    # Fails unless a text encoder is trained there.
    emb_dim = stackgan.load_text_encoder(overrides.get("text_encoder", "")).config.emb_dim
    return stackgan.StackGANConfig.paper(shape, len(dataset.train), **{"emb_dim": emb_dim, **overrides})
  if method == "text-encoder":
    features = dataset.train.features
    if overrides.get("image_encoder") == "fixed" and features is not None:
      overrides = {"emb_dim": features.shape[1], **overrides}  # v itself is the image embedding
    base = text_encoder.TextEncoderConfig(data_shape=shape, **overrides)
    text_encoder.image_input(dataset.train, base)  # fails here, before a run directory is made
    # Reed decays the learning rate once per epoch: (training images / classes per batch) steps.
    epoch = max(1, len(dataset.train) // base.classes_per_batch)
    return dataclasses.replace(base, decay_every=overrides.get("decay_every", epoch))
  if method == "cgan":
    if not dataset.num_classes:
      raise ValueError(f"the conditional GAN needs class labels and {dataset.name} has none; "
                       "use --dataset digits or a labelled tfds dataset.")
    return gan.GANConfig.mirza(shape, dataset.num_classes, **overrides)
  if method == "gan":
    return gan.GANConfig.goodfellow(shape, **overrides) if dataset.is_image else gan.GANConfig.toy(shape, **overrides)
  return wgan.WGANConfig(shape, **overrides) if dataset.is_image else wgan.WGANConfig.toy(shape, **overrides)


def _config_to_json(config) -> dict:
  return dataclasses.asdict(config)


def config_from_json(cls, d: dict):
  """A config dataclass from its JSON form (lists back to tuples)."""
  return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def save_run_config(out: str, run: RunConfig, config) -> None:
  with open(os.path.join(out, "config.json"), "w") as f:
    json.dump({"run": dataclasses.asdict(run), "algo": _config_to_json(config)}, f, indent=2)


def load_run_config(out: str):
  path = os.path.join(out, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{out} is not a jaxgan run directory (no config.json).")
  with open(path) as f:
    d = json.load(f)
  run = RunConfig(**d["run"])
  return run, config_from_json(CONFIG_CLASSES[run.method], d["algo"])


def check_data_fits(config, dataset: data_lib.Dataset) -> None:
  n = len(dataset.train)
  # (The text encoder draws min(classes_per_batch, classes) classes: it has no batch to check.)
  if getattr(config, "batch_size", 0) > n:
    raise ValueError(f"batch size {config.batch_size} is larger than the {n} training examples of "
                     f"{dataset.name}; pass --batch-size {n} or less.")
  if tuple(config.data_shape) != dataset.data_shape:
    raise ValueError(f"the config expects data of shape {config.data_shape} but {dataset.name} has "
                     f"{dataset.data_shape}.")


def keys(seed: int):
  """(init, train, sample) keys of a run: independent streams of one seed."""
  root = jax.random.key(seed)
  return tuple(jax.random.fold_in(root, i) for i in range(3))


def make_chunk(method: str, length: int, devices: int = 1):
  """(state, data, train_key) -> (state, metrics stacked over ``length`` generator iterations)."""
  algo = METHODS[method]

  def chunk(state, data, train_key, axis_name=None):
    def body(state, _):
      return algo.train_step(state, data, jax.random.fold_in(train_key, state.step), axis_name)
    return jax.lax.scan(body, state, None, length=length)

  if devices == 1:
    return jax.jit(chunk)
  return parallel.data_parallel(chunk, parallel.make_mesh(devices), split_batch=False)


def checkpoint_manager(out: str, keep: int) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      os.path.abspath(os.path.join(out, "checkpoints")),
      options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                           enable_async_checkpointing=False))


def restore_state(out: str, step: int | None = None):
  """The run's state from its latest (or ``step``'s) checkpoint, with its configs."""
  run, config = load_run_config(out)
  # Shapes only: nothing is allocated or compiled for the template.
  template = jax.eval_shape(lambda k: METHODS[run.method].init(k, config), keys(run.seed)[0])
  with checkpoint_manager(out, run.keep_checkpoints) as mngr:
    step = mngr.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"{out} has no checkpoint yet.")
    state = mngr.restore(step, args=ocp.args.StandardRestore(template))
  return run, config, state


def all_finite(tree) -> bool:
  """Whether every floating-point leaf of ``tree`` is free of NaN and inf."""
  return all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(tree)
             if jnp.issubdtype(x.dtype, jnp.floating))


@functools.cache
def _jitted_generate(method: str):
  """One jitted ``generate`` per method, so sample grids during training reuse its compilation."""
  return jax.jit(METHODS[method].generate, static_argnums=2)


def generate_fn(method: str, state, key):
  """``generate(n, labels)`` in batches of 1,000 with keys folded from ``key``."""
  gen = _jitted_generate(method)

  def generate(n, labels=None):
    out = []
    for i, start in enumerate(range(0, n, 1000)):
      m = min(1000, n - start)
      lab = None if labels is None else jnp.asarray(labels[start:start + m])
      out.append(np.asarray(gen(state, jax.random.fold_in(key, i), m, lab)))
    return np.concatenate(out)

  return generate


def sample_grid(method: str, state, key, dataset: data_lib.Dataset, path: str, n: int = 64) -> None:
  """Images: a grid (the conditional GAN: one row per class); points: a scatter over the data;
  a method's own figure where it has one (the text encoder: retrieval of test images)."""
  if hasattr(METHODS[method], "sample_figure"):
    METHODS[method].sample_figure(state, dataset, path)
    return
  num_classes = getattr(state.config, "num_classes", 0)
  generate = generate_fn(method, state, key)
  if not dataset.is_image:
    plots.scatter(generate(2500), dataset.test.x[:2500], path)
    return
  if num_classes:
    per_row = 10
    labels = np.repeat(np.arange(num_classes), per_row)
    plots.image_grid(generate(len(labels), labels), path, ncols=per_row)
  else:
    plots.image_grid(generate(n), path, ncols=int(math.sqrt(n)))


def evaluate_state(method: str, state, dataset: data_lib.Dataset, key, out: str | None = None,
                   num_samples: int = 10_000) -> dict:
  if hasattr(METHODS[method], "evaluate"):
    return METHODS[method].evaluate(state, dataset)
  classifier = None
  if dataset.is_image and dataset.num_classes:
    path = os.path.join(out, "classifier.msgpack") if out else None
    classifier = metrics_lib.load_or_train_classifier(dataset, path)
  return metrics_lib.evaluate(generate_fn(method, state, key), dataset,
                              num_classes=getattr(state.config, "num_classes", 0),
                              num_samples=num_samples, classifier=classifier)


def load_dataset(run: RunConfig) -> data_lib.Dataset:
  return data_lib.load(run.dataset, run.image_size, run.data_dir, run.max_examples)


def eval_key(seed: int):
  return jax.random.fold_in(keys(seed)[2], 1)


def train(run: RunConfig | None, config=None, out: str = "runs/default", resume: bool = False,
          progress: bool = True, steps: int | None = None, overrides: dict | None = None
          ) -> tuple[Any, dict]:
  """Trains (or, with ``resume``, continues) a run in ``out``; returns (state, final metrics).

  ``config`` is the method's config; None takes :func:`default_config` for the dataset with
  ``overrides``. ``run``/``config`` are ignored on resume (the run directory's config.json rules)
  except that ``steps`` may extend the run.
  """
  from tqdm.auto import tqdm

  if resume:
    run, config = load_run_config(out)
    if steps is not None:
      run = dataclasses.replace(run, steps=steps)
  elif os.path.exists(os.path.join(out, "config.json")):
    raise FileExistsError(f"{out} already holds a run; pass --resume to continue it or choose another --out.")
  dataset = load_dataset(run)
  if config is None:
    config = default_config(run.method, dataset, **(overrides or {}))
  check_data_fits(config, dataset)
  if run.devices > 1:
    parallel.check_batch_divides(config.batch_size, run.devices)
    parallel.make_mesh(run.devices)  # fails early when there are fewer devices
  algo = METHODS[run.method]
  init_key, train_key, sample_key = keys(run.seed)

  os.makedirs(os.path.join(out, "samples"), exist_ok=True)
  save_run_config(out, run, config)
  state = jax.jit(algo.init, static_argnums=1)(init_key, config)  # one compilation, not one per op
  mngr = checkpoint_manager(out, run.keep_checkpoints)
  if resume and mngr.latest_step() is not None:
    state = mngr.restore(mngr.latest_step(), args=ocp.args.StandardRestore(state))
  elif resume:
    raise FileNotFoundError(f"{out} has no checkpoint to resume from.")
  step = int(state.step)
  metrics_path = os.path.join(out, "metrics.jsonl")
  if resume:  # drop lines logged after the checkpoint we resume from
    plots.truncate_jsonl(metrics_path, step)

  if hasattr(algo, "device_data"):
    device_data = jax.device_put(algo.device_data(dataset.train, config))
  else:
    device_data = jax.device_put(dataset.train.as_device_data())
  chunks: dict[int, Any] = {}
  bar = tqdm(total=run.steps, initial=step, disable=not progress, desc=f"{run.method} {run.dataset}",
             unit="it", dynamic_ncols=True)
  last_metrics: dict = {}
  timed_steps, timed_seconds = 0, 0.0
  t0 = time.perf_counter()
  try:
    with open(metrics_path, "a") as log:
      while step < run.steps:
        length = min(run.log_every - step % run.log_every, run.steps - step)
        warm = length in chunks  # the first call of each chunk length compiles it
        if not warm:
          chunks[length] = make_chunk(run.method, length, run.devices)
        t_chunk = time.perf_counter()
        new_state, m = chunks[length](state, device_data, train_key)
        m = jax.device_get(m)
        finite = all_finite(m) and all_finite(new_state)
        if warm:
          timed_steps += length
          timed_seconds += time.perf_counter() - t_chunk
        if not finite:
          bad = sorted(k for k, v in m.items() if not np.all(np.isfinite(v)))
          good = mngr.latest_step()
          raise TrainingDivergedError(
              f"training diverged: non-finite values ({', '.join(bad) or 'parameters'}) between "
              f"generator iterations {step} and {step + length}. The last good checkpoint "
              f"(step {good}) is kept in {out}; lower the learning rate or change the config, then "
              f"start a new run (or --resume to retry from it).")
        state, prev, step = new_state, step, step + length
        elapsed = time.perf_counter() - t0
        for i in range(length):
          row = {"step": prev + i + 1, **{k: float(v[i]) for k, v in m.items()}}
          log.write(json.dumps(row) + "\n")
        log.flush()
        last_metrics = {k: float(v[-1]) for k, v in m.items()}
        bar.update(length)
        bar.set_postfix({k: f"{v:.4g}" for k, v in last_metrics.items()}, refresh=False)
        if step // run.sample_every > prev // run.sample_every:
          sample_grid(run.method, state, sample_key, dataset,
                      os.path.join(out, "samples", f"step_{step:07d}.png"))
        if step // run.checkpoint_every > prev // run.checkpoint_every or step == run.steps:
          mngr.save(step, args=ocp.args.StandardSave(state))
          mngr.wait_until_finished()
  finally:
    bar.close()
    mngr.close()
  last_metrics["seconds"] = time.perf_counter() - t0
  if timed_steps:  # training speed without compilation (absent when every chunk compiled)
    last_metrics["steps_per_s"] = timed_steps / timed_seconds
  sample_grid(run.method, state, sample_key, dataset, os.path.join(out, "samples.png"))
  plots.learning_curves(metrics_path, os.path.join(out, "curves.png"))
  if run.evaluate:
    result = evaluate_state(run.method, state, dataset, eval_key(run.seed), out, run.eval_samples)
    with open(os.path.join(out, "eval.json"), "w") as f:
      json.dump(result, f, indent=2)
    last_metrics["eval"] = result
  return state, last_metrics
