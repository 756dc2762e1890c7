"""Pixel-level domain adaptation (PixelDA, Bousmalis et al. CVPR 2017): a generator G(x_s, z) makes
labelled source images look like the target domain, a discriminator D tells its images from real
target images, and a task classifier T learns the source labels on source and adapted images.

    state = init(key, config)
    state, metrics = discriminator_step(state, batch, key)  # D and T; batch: source_x, source_y, target_x
    state, metrics = generator_step(state, batch, key)      # G
    state, metrics = train_step(state, data, key)           # one D step, then one G step, batches
                                                            # drawn inside jit from device data
    images = adapt(state, key, source_images)               # G in evaluation mode
    logits = classify(state, images)                        # T's adapted/target tower

As in the paper (Section 3.3) and the official code, D and T are one player (the official
"discriminator" scope: one Adam) updated in the D step with G fixed; G is updated in the G step
with D and T fixed, its task loss back-propagated through T. Each variable's gradient is clipped
to norm 5 on its own, as slim's ``clip_gradient_norm`` does.

D step:  alpha * [BCE(D(x_t), 1) + BCE(D(G(x_s, z)), 0)] + CE(T_s(x_s), y_s) + CE(T_a(G(x_s, z)), y_s)
G step:  style * BCE(D(G(x_s, z)), 1) + task_in_g * CE(T_a(G(x_s, z)), y_s) + content * L_c
(the source term of the task loss has no gradient in G and is left out of the G step), plus L2 on
G's and T's weights.

Two places where the official code departs from the paper follow the paper here: the code's L2
regularisers are created but never added to the losses (its own TODO says so), and its Gaussian
noise on D's activations is drawn at evaluation time too.
"""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxgan import losses, optim
from jaxgan.algos import common
from jaxgan.algos.common import Player
from jaxgan.nets import pixelda as nets


@dataclasses.dataclass(frozen=True)
class PixelDAConfig:
  """PixelDA's hyperparameters; the ``paper`` preset is the official MNIST -> MNIST-M run."""

  data_shape: tuple[int, int, int] = (32, 32, 3)  # the target's images (the source is brought to them)
  num_classes: int = 10              # classes of the task
  z_dim: int = 10                    # noise z ~ U(-1, 1)^z_dim
  generator_filters: int = 64        # filters of G's convolutions
  generator_blocks: int = 6          # residual blocks of G
  discriminator_filters: int = 64    # D's first layer (doubling at each stride-2 layer)
  keep_prob: float = 0.9             # D's dropout keep probability (0.9: 10% of units dropped)
  noise_std: float = 0.2             # Gaussian noise added to D's activations in training
  domain_loss_weight: float = 0.1356  # alpha: D's domain loss in the D step
  style_transfer_loss_weight: float = 0.01132  # G's adversarial loss in the G step
  task_loss_in_g_weight: float = 0.0101  # the task loss on G's images in the G step
  task_tower_in_g_step: bool = True  # False: the ablation without the task loss in the G step
  adversarial: bool = True           # False: the ablation without a discriminator (G learns from T alone)
  content_loss_weight: float = 0.0   # gamma: the masked pairwise MSE of Eq. 5 (0 for digits, as the paper)
  weight_decay: float = 1e-5         # L2 on G's and T's weights (TensorFlow's l2_regularizer: wd * sum w^2 / 2)
  learning_rate: float = 1e-3        # Adam, both players
  beta1: float = 0.5                 # Adam's beta1
  lr_decay_rate: float = 0.95        # the learning rate is multiplied by this ...
  lr_decay_steps: int = 10_000       # ... every this many iterations (the official 20k global steps count the D and the G update)
  clip_gradient_norm: float = 5.0    # clip each variable's gradient to this norm (slim's clip_gradient_norm)
  batch_size: int = 32               # images per domain per step
  reference_steps: int = 3000        # steps of the source-only and target-only classifiers (evaluation)

  def __post_init__(self):
    if len(self.data_shape) != 3:
      raise ValueError(f"PixelDA adapts images: data_shape (H, W, C), got {self.data_shape}.")
    if self.data_shape[0] < 8 or self.data_shape[0] != self.data_shape[1]:
      raise ValueError(f"PixelDA takes square images of at least 8 px: data_shape "
                       f"{self.data_shape}.")
    for name in ("num_classes", "z_dim", "generator_filters", "discriminator_filters", "batch_size",
                 "learning_rate", "lr_decay_rate", "lr_decay_steps", "clip_gradient_norm",
                 "reference_steps"):
      common.check_positive(name, getattr(self, name))
    if self.generator_blocks < 0:
      raise ValueError(f"generator_blocks must be >= 0, got {self.generator_blocks}.")
    if not 0.0 < self.keep_prob <= 1.0:
      raise ValueError(f"keep_prob is the probability of keeping a unit, in (0, 1]; got {self.keep_prob}.")
    for name in ("noise_std", "domain_loss_weight", "style_transfer_loss_weight",
                 "task_loss_in_g_weight", "content_loss_weight", "weight_decay"):
      if getattr(self, name) < 0:
        raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")
    if not 0.0 <= self.beta1 < 1.0:
      raise ValueError(f"beta1 must be in [0, 1), got {self.beta1}.")
    if self.adversarial and self.domain_loss_weight == 0:
      raise ValueError("domain_loss_weight 0 leaves the discriminator untrained; for the ablation "
                       "without a discriminator pass --no-adversarial.")
    if not (self.adversarial or self.task_tower_in_g_step or self.content_loss_weight):
      raise ValueError("with --no-adversarial, --no-task-tower-in-g-step and no content loss the "
                       "generator has no loss to learn from; keep one of them.")

  @classmethod
  def paper(cls, data_shape=(32, 32, 3), num_classes=10, **kw) -> "PixelDAConfig":
    """The official MNIST -> MNIST-M hyperparameters (its README's hparams: the tuned loss weights,
    the task tower in the G step, no content loss), ResNet G of 6 blocks x 64 filters, 32 px."""
    return cls(data_shape=tuple(data_shape), num_classes=num_classes, **kw)

  @classmethod
  def cpu(cls, data_shape=(16, 16, 3), num_classes=10, **kw) -> "PixelDAConfig":
    """The paper's losses and optimiser with networks a 2-core CPU trains in minutes: G of 4 blocks
    x 32 filters, D from 32 filters (at 16 px: 32-64-128 to 4 x 4), meant for 16 px digits."""
    kw = {"generator_filters": 32, "generator_blocks": 4, "discriminator_filters": 32, **kw}
    return cls(data_shape=tuple(data_shape), num_classes=num_classes, **kw)


@struct.dataclass
class PixelDAState:
  step: jax.Array          # iterations done (one D step and one G step each)
  generator: Player        # G
  discriminator: Player    # D and T: params {'domain': D's, 'task': T's}; batch_stats: D's
  config: PixelDAConfig = struct.field(pytree_node=False)


def networks(config: PixelDAConfig, axis_name: str | None = None):
  """(G, D, T) Flax modules for ``config``."""
  c = config
  return (nets.ResNetGenerator(c.data_shape[-1], c.generator_filters, c.generator_blocks, axis_name),
          nets.DomainDiscriminator(c.discriminator_filters, c.keep_prob, c.noise_std, axis_name),
          nets.TaskClassifier(c.num_classes))


def optimizer(config: PixelDAConfig) -> optax.GradientTransformation:
  """Adam (beta1 0.5) on a staircase schedule, after clipping each variable's gradient norm (as
  slim's ``clip_gradient_norm`` does)."""
  lr = optax.exponential_decay(config.learning_rate, config.lr_decay_steps, config.lr_decay_rate,
                               staircase=True)
  return optax.chain(optim.clip_by_norm_per_variable(config.clip_gradient_norm),
                     optax.adam(lr, b1=config.beta1))


def l2(params) -> jax.Array:
  """sum w^2 / 2 over the weights (kernels; not biases or batch-norm offsets)."""
  leaves = jax.tree_util.tree_leaves_with_path(params)
  kernels = [x for path, x in leaves if getattr(path[-1], "key", None) == "kernel"]
  return 0.5 * sum(jnp.sum(jnp.square(k)) for k in kernels)


def init(key, config: PixelDAConfig) -> PixelDAState:
  g, d, t = networks(config)
  k_g, k_d, k_t = jax.random.split(key, 3)
  x = jnp.zeros((2, *config.data_shape))
  tx = optimizer(config)
  generator = common.init_player(g, tx, k_g, x, jnp.zeros((2, config.z_dim)))
  d_vars = d.init({"params": k_d, "dropout": k_d}, x, train=False)
  params = {"domain": d_vars["params"], "task": t.init(k_t, x, method=t.both)["params"]}
  discriminator = Player(params, d_vars["batch_stats"], tx.init(params))
  return PixelDAState(jnp.zeros((), jnp.int32), generator, discriminator, config)


def draw_batch(data: dict, key, batch_size: int, axis_name: str | None = None,
               target: bool = True) -> dict:
  """``batch_size`` source images with labels and (``target``) as many target images, unpaired,
  drawn with replacement from device-resident ``data`` (source_x, source_y, target_x)."""
  k_s, k_t = jax.random.split(key)
  i = common.draw_indices(k_s, data["source_x"].shape[0], batch_size, axis_name)
  batch = {"source_x": common.to_float(data["source_x"][i]), "source_y": data["source_y"][i]}
  if target:
    j = common.draw_indices(k_t, data["target_x"].shape[0], batch_size, axis_name)
    batch["target_x"] = common.to_float(data["target_x"][j])
  return batch


def _adapted(state: PixelDAState, batch: dict, key, axis_name, params=None):
  """G(x_s, z) in training mode: (images, G's batch statistics after the call)."""
  g, _, _ = networks(state.config, axis_name)
  k_z, k_g = jax.random.split(key)
  z = common.sample_noise(k_z, batch["source_x"].shape[0], state.config.z_dim, "box", axis_name)
  return common.apply(g, state.generator, batch["source_x"], z, key=k_g, params=params)


def task_logits(config: PixelDAConfig, task_params, images, tower: str = "adapted") -> jax.Array:
  _, _, t = networks(config)
  return t.apply({"params": task_params}, images, tower)


def discriminator_step(state: PixelDAState, batch: dict, key, axis_name: str | None = None):
  """One update of D and T with G fixed: the domain loss (weighted alpha) and the task loss on
  source and adapted images, plus L2 on T's weights."""
  c = state.config
  _, d, _ = networks(c, axis_name)
  k_g, k_d = jax.random.split(key)
  fake, _ = _adapted(state, batch, k_g, axis_name)  # (G's statistics are G's step's to update)
  fake = jax.lax.stop_gradient(fake)
  k_d = common.device_key(k_d, axis_name)
  player = state.discriminator
  y = batch["source_y"]

  def loss_fn(params):
    source_logits = task_logits(c, params["task"], batch["source_x"], "source")
    adapted_logits = task_logits(c, params["task"], fake, "adapted")
    task = losses.cross_entropy(source_logits, y) + losses.cross_entropy(adapted_logits, y)
    metrics = {"task_loss": task,
               "task_accuracy": jnp.mean(jnp.argmax(adapted_logits, -1) == y)}
    loss, stats = task + c.weight_decay * l2(params["task"]), player.batch_stats
    if c.adversarial:
      fake_logits, stats = common.apply(d, player, fake, key=k_d, params=params["domain"])
      real_logits, stats = common.apply(d, player, batch["target_x"], key=jax.random.fold_in(k_d, 1),
                                        params=params["domain"], batch_stats=stats)
      domain = losses.discriminator_loss(real_logits, fake_logits)
      loss = loss + c.domain_loss_weight * domain
      metrics.update(d_loss=domain, d_real=jnp.mean(jax.nn.sigmoid(real_logits)),
                     d_fake=jnp.mean(jax.nn.sigmoid(fake_logits)))
    return loss, (stats, metrics)

  grads, (stats, metrics) = jax.grad(loss_fn, has_aux=True)(player.params)
  stats = common.pmean(stats, axis_name)
  new = common.update(player, optimizer(c), grads, stats, axis_name)
  return state.replace(discriminator=new), common.pmean(metrics, axis_name)


def generator_step(state: PixelDAState, batch: dict, key, axis_name: str | None = None):
  """One update of G with D and T fixed: the non-saturating adversarial loss (weighted by the
  style-transfer weight), the task loss on its images through T, the optional content loss, and
  L2 on G's weights."""
  c = state.config
  _, d, _ = networks(c, axis_name)
  k_g, k_d = jax.random.split(key)
  k_d = common.device_key(k_d, axis_name)
  player = state.discriminator

  def loss_fn(params):
    fake, stats = _adapted(state, batch, k_g, axis_name, params=params)
    loss, metrics = c.weight_decay * l2(params), {}
    if c.adversarial:
      logits, _ = common.apply(d, player, fake, key=k_d, params=player.params["domain"])
      style = losses.generator_loss_non_saturating(logits)
      loss, metrics["g_loss"] = loss + c.style_transfer_loss_weight * style, style
    if c.task_tower_in_g_step:
      task = losses.cross_entropy(task_logits(c, player.params["task"], fake), batch["source_y"])
      loss, metrics["g_task_loss"] = loss + c.task_loss_in_g_weight * task, task
    if c.content_loss_weight:
      content = losses.masked_pairwise_mse(fake, batch["source_x"])
      loss, metrics["content_loss"] = loss + c.content_loss_weight * content, content
    return loss, (stats, metrics)

  grads, (stats, metrics) = jax.grad(loss_fn, has_aux=True)(state.generator.params)
  stats = common.pmean(stats, axis_name)
  new = common.update(state.generator, optimizer(c), grads, stats, axis_name)
  return state.replace(generator=new, step=state.step + 1), common.pmean(metrics, axis_name)


def train_step(state: PixelDAState, data: dict, key, axis_name: str | None = None):
  """One iteration: a D step, then a G step, each on fresh batches drawn inside jit from ``data``
  (every step of the official code dequeues its own batches; the G step reads no target image)."""
  c = state.config
  k_bd, k_d, k_bg, k_g = jax.random.split(key, 4)
  state, d_metrics = discriminator_step(state, draw_batch(data, k_bd, c.batch_size, axis_name),
                                        k_d, axis_name)
  state, g_metrics = generator_step(state, draw_batch(data, k_bg, c.batch_size, axis_name, False),
                                    k_g, axis_name)
  return state, {**d_metrics, **g_metrics}


def adapt(state: PixelDAState, key, source_images, z=None) -> jax.Array:
  """G(x_s, z) in evaluation mode (running batch statistics), ``source_images`` in [-1, 1]."""
  g, _, _ = networks(state.config)
  if z is None:
    z = common.sample_noise(key, source_images.shape[0], state.config.z_dim, "box")
  out, _ = common.apply(g, state.generator, source_images, z, key=key, train=False)
  return out


def classify(state: PixelDAState, images, tower: str = "adapted") -> jax.Array:
  """T's logits; the adapted/target tower reads target images at test time."""
  return task_logits(state.config, state.discriminator.params["task"], images, tower)


# ---- the references: T trained alone --------------------------------------------------------------

def train_task_classifier(key, config: PixelDAConfig, images, labels, tower: str = "source",
                          steps: int | None = None) -> Any:
  """T's parameters after ``steps`` (default ``config.reference_steps``) updates of the task loss
  alone on labelled ``images`` (uint8, device-resident) through ``tower``, with PixelDA's optimiser,
  batch size and L2: the source-only classifier (source images) and the target-only one (labelled
  target images, the upper reference)."""
  c = config
  _, _, t = networks(c)
  k_init, k_train = jax.random.split(key)
  params = t.init(k_init, jnp.zeros((2, *c.data_shape)), method=t.both)["params"]
  tx = optimizer(c)

  def step(carry, i):
    params, opt_state = carry
    idx = common.draw_indices(jax.random.fold_in(k_train, i), images.shape[0], c.batch_size)
    x, y = common.to_float(images[idx]), labels[idx]

    def loss_fn(p):
      return losses.cross_entropy(t.apply({"params": p}, x, tower), y) + c.weight_decay * l2(p)

    grads = jax.grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  (params, _), _ = jax.lax.scan(step, (params, tx.init(params)),
                                jnp.arange(c.reference_steps if steps is None else steps))
  return params
