"""Next-frame prediction beyond mean squared error (Mathieu, Couprie & LeCun, ICLR 2016): a
multi-scale generator predicts the next frame from 4 input frames, trained with L_p, the gradient
difference loss and, with a discriminator per scale, an adversarial loss.

    state = init(key, config)
    state, metrics = discriminator_step(state, batch, key)   # D_1..D_K; batch: inputs, target
    state, metrics = generator_step(state, batch, key)       # G
    loss, parts = generator_objective(config, g_params, d_params, batch)  # G's loss and its terms
    state, metrics = train_step(state, data, key)            # (with adv) a D step, then a G step,
                                                             # each on its own minibatch
    frames = predict(state, inputs, n=2)                     # the next n frames, each fed back

The objective of G (Section 3, summed over the scales, each scale against the target
average-pooled to it): lambda_adv L_adv^G + lambda_lp L_p + lambda_gdl L_gdl; of D: the sigmoid
cross-entropy of real (X_k, Y_k) against predicted (X_k, G_k(X)). Both players use plain SGD
(the paper: rho_G = 0.04, rho_D = 0.02). Every loss is a mean over its pixels, as the official
code's criteria are (the paper writes sums); the loss weights are the paper's.
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxgan import losses
from jaxgan.algos import common
from jaxgan.algos.common import Player
from jaxgan.nets import frames as nets

TERMS = ("l1", "l2", "gdl", "adv")
NETWORKS = {"paper": (nets.PAPER_GENERATOR, nets.PAPER_DISCRIMINATOR),
            "small": (nets.SMALL_GENERATOR, nets.SMALL_DISCRIMINATOR)}
# The rows of the paper's Table 2: (loss, scales as divisors of the frame size).
ROWS = {"single-scale-l2": ("l2", (1,)), "l2": ("l2", (8, 4, 2, 1)), "l1": ("l1", (8, 4, 2, 1)),
        "gdl-l1": ("gdl+l1", (8, 4, 2, 1)), "adv": ("adv+l2", (8, 4, 2, 1)),
        "adv-gdl": ("adv+gdl+l1", (8, 4, 2, 1))}


def parse_loss(loss: str) -> tuple[str, ...]:
  """'adv+gdl+l1' -> ('adv', 'gdl', 'l1'), checked: known terms, each once, at most one of l1 /
  l2, and a reconstruction term (L_p or GDL) beside the adversarial one."""
  terms = tuple(t.strip().lower() for t in loss.split("+"))
  unknown = [t for t in terms if t not in TERMS]
  if unknown or not loss.strip():
    raise ValueError(f"unknown loss term {', '.join(map(repr, unknown)) or repr(loss)}; combine "
                     f"{', '.join(TERMS)} with '+' (e.g. --loss adv+gdl+l1).")
  if len(set(terms)) != len(terms):
    raise ValueError(f"--loss {loss} names a term twice.")
  if "l1" in terms and "l2" in terms:
    raise ValueError("--loss takes one of l1 and l2 (the L_p term), not both.")
  if terms == ("adv",):
    raise ValueError("--loss adv alone trains G on the discriminator only; the paper always adds "
                     "L_p (e.g. --loss adv+l2 or adv+gdl+l1).")
  return terms


@dataclasses.dataclass(frozen=True)
class FramesConfig:
  """Mathieu et al.'s hyperparameters; ``networks='paper'`` is Table 1."""

  frame_shape: tuple[int, int, int] = (32, 32, 1)  # (H, W, C) of a frame (set from the data)
  input_frames: int = 4              # frames the generator sees
  loss: str = "adv+gdl+l1"           # '+'-joined terms: l1 or l2 (L_p), gdl, adv (e.g. l2, gdl+l1, adv+l2)
  scales: tuple[int, ...] = (8, 4, 2, 1)  # down-sampling factor of each scale, coarse to fine (at 32 px: scales of 4, 8, 16, 32 px); 1: a single scale
  networks: str = "paper"            # layer sizes: paper (Table 1) or small (the official training script's 16-64 maps in G, 32-128 in D); moving-digits runs default to small
  lambda_adv: float = 0.05           # weight of the adversarial loss in G's objective
  lambda_lp: float = 1.0             # weight of L_p
  lambda_gdl: float = 1.0            # weight of the gradient difference loss
  gdl_alpha: float = 1.0             # the gradient difference loss's exponent
  generator_lr: float = 0.04         # SGD, G (the paper: 0.04, "reduced over time to 0.005")
  generator_lr_end: float | None = None  # G's rate reached linearly at lr_decay_steps (None: constant)
  lr_decay_steps: int = 100_000      # iterations over which G's rate decays to generator_lr_end
  discriminator_lr: float = 0.02     # SGD, D
  batch_size: int = 8                # sequences per minibatch (D and G each draw their own)

  def __post_init__(self):
    terms = parse_loss(self.loss)
    if len(self.frame_shape) != 3:
      raise ValueError(f"frames are (H, W, C): frame_shape {self.frame_shape}.")
    h, w, _ = self.frame_shape
    if not self.scales or len(self.scales) > 4:
      raise ValueError(f"--scales takes 1 to 4 down-sampling factors (the paper: 8 4 2 1), got "
                       f"{self.scales}.")
    if list(self.scales) != sorted(set(self.scales), reverse=True) or self.scales[-1] != 1:
      raise ValueError(f"--scales are decreasing down-sampling factors ending in 1 (e.g. 8 4 2 1), "
                       f"got {' '.join(map(str, self.scales))}.")
    bad = [s for s in self.scales if h % s or w % s]
    if bad:
      raise ValueError(f"{h}x{w} frames cannot be down-sampled by {bad}; use frames whose sides "
                       f"divide by {max(self.scales)} or fewer scales.")
    if self.networks not in NETWORKS:
      raise ValueError(f"unknown networks {self.networks!r}; use one of {', '.join(NETWORKS)}.")
    for name in ("input_frames", "batch_size", "generator_lr", "discriminator_lr", "gdl_alpha",
                 "lr_decay_steps"):
      common.check_positive(name, getattr(self, name))
    for name in ("lambda_adv", "lambda_lp", "lambda_gdl"):
      if getattr(self, name) < 0:
        raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")
    if self.generator_lr_end is not None and self.generator_lr_end < 0:
      raise ValueError(f"generator_lr_end must be >= 0, got {self.generator_lr_end}.")
    weights = {"adv": self.lambda_adv, "gdl": self.lambda_gdl, "l1": self.lambda_lp,
               "l2": self.lambda_lp}
    zero = [t for t in terms if weights[t] == 0]
    if zero:
      raise ValueError(f"--loss {self.loss} includes {', '.join(zero)} with weight 0; drop the term "
                       "or give it a weight.")

  @property
  def terms(self) -> tuple[str, ...]:
    return parse_loss(self.loss)

  @property
  def adversarial(self) -> bool:
    return "adv" in self.terms

  @classmethod
  def row(cls, name: str, frame_shape=(32, 32, 1), networks: str = "paper", **kw) -> "FramesConfig":
    """The config of a row of the paper's Table 2 (``ROWS``)."""
    if name not in ROWS:
      raise ValueError(f"unknown row {name!r}; the paper's rows: {', '.join(ROWS)}.")
    loss, scales = ROWS[name]
    return cls(frame_shape=tuple(frame_shape), **{"loss": loss, "scales": scales,
                                                  "networks": networks, **kw})


@struct.dataclass
class FramesState:
  step: jax.Array          # iterations done (one G step each)
  generator: Player
  discriminator: Player    # params {} without the adversarial loss
  config: FramesConfig = struct.field(pytree_node=False)


def networks(config: FramesConfig):
  """(G, D) Flax modules; the scales take the finest entries of the layer tables (a single
  scale is the paper's 32 px network alone)."""
  g_layers, d_layers = NETWORKS[config.networks]
  k = len(config.scales)
  return (nets.MultiScaleGenerator(config.scales, g_layers[-k:], config.frame_shape[-1]),
          nets.MultiScaleDiscriminator(config.scales, d_layers[-k:]))


def generator_optimizer(config: FramesConfig) -> optax.GradientTransformation:
  lr = config.generator_lr
  if config.generator_lr_end is not None:
    lr = optax.linear_schedule(lr, config.generator_lr_end, config.lr_decay_steps)
  return optax.sgd(lr)


def discriminator_optimizer(config: FramesConfig) -> optax.GradientTransformation:
  return optax.sgd(config.discriminator_lr)


def stack_inputs(frames: jax.Array) -> jax.Array:
  """[B, T, H, W, C] -> [B, H, W, T * C]: the frames on the channels, frame by frame."""
  b, t, h, w, c = frames.shape
  return frames.transpose(0, 2, 3, 1, 4).reshape(b, h, w, t * c)


def pyramid(frame: jax.Array, scales) -> list[jax.Array]:
  """A frame average-pooled to every scale, coarse to fine."""
  return [nets.downsample(frame, s) for s in scales]


def init(key, config: FramesConfig) -> FramesState:
  g, d = networks(config)
  k_g, k_d = jax.random.split(key)
  h, w, c = config.frame_shape
  inputs = jnp.zeros((1, h, w, config.input_frames * c))
  g_params = g.init(k_g, inputs)["params"]
  generator = Player(g_params, {}, generator_optimizer(config).init(g_params))
  d_params = {}
  if config.adversarial:
    d_params = d.init(k_d, inputs, pyramid(jnp.zeros((1, h, w, c)), config.scales))["params"]
  discriminator = Player(d_params, {}, discriminator_optimizer(config).init(d_params))
  return FramesState(jnp.zeros((), jnp.int32), generator, discriminator, config)


def draw_batch(data: dict, key, config: FramesConfig, axis_name: str | None = None) -> dict:
  """``batch_size`` windows of input_frames + 1 frames from device-resident sequences
  ``data['x']`` [N, T, H, W, C] (uint8), each at a random start: {'inputs' [B, H, W, 4C],
  'target' [B, H, W, C]} in [-1, 1]."""
  k_i, k_t = jax.random.split(key)
  x = data["x"]
  n, t = x.shape[:2]
  i = common.draw_indices(k_i, n, config.batch_size, axis_name)
  start = common.draw_indices(k_t, t - config.input_frames, config.batch_size, axis_name)
  window = jax.vmap(lambda seq, s: jax.lax.dynamic_slice_in_dim(seq, s, config.input_frames + 1))(
      x[i], start)
  window = common.to_float(window)
  return {"inputs": stack_inputs(window[:, :-1]), "target": window[:, -1]}


def generate(config: FramesConfig, params, inputs) -> list[jax.Array]:
  """G's prediction at every scale for stacked ``inputs``."""
  g, _ = networks(config)
  return g.apply({"params": params}, inputs)


def reconstruction_losses(config: FramesConfig, predictions, targets) -> dict:
  """{'lp', 'gdl'} (those the loss has), each summed over the scales."""
  out = {}
  terms = config.terms
  p = 1 if "l1" in terms else 2 if "l2" in terms else None
  if p is not None:
    out["lp"] = sum(losses.lp_loss(y_hat, y, p) for y_hat, y in zip(predictions, targets))
  if "gdl" in terms:
    out["gdl"] = sum(losses.gradient_difference_loss(y_hat, y, config.gdl_alpha)
                     for y_hat, y in zip(predictions, targets))
  return out


def discriminator_step(state: FramesState, batch: dict, key=None, axis_name: str | None = None):
  """One SGD step of D_1..D_K on real (X_k, Y_k) against (X_k, G_k(X)), G fixed."""
  c = state.config
  _, d = networks(c)
  fake = jax.lax.stop_gradient(generate(c, state.generator.params, batch["inputs"]))
  real = pyramid(batch["target"], c.scales)

  def loss_fn(params):
    real_logits = d.apply({"params": params}, batch["inputs"], real)
    fake_logits = d.apply({"params": params}, batch["inputs"], fake)
    loss = sum(losses.discriminator_loss(r, f) for r, f in zip(real_logits, fake_logits))
    return loss, {"d_loss": loss,
                  "d_real": jnp.mean(jax.nn.sigmoid(real_logits[-1])),
                  "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits[-1]))}

  grads, metrics = jax.grad(loss_fn, has_aux=True)(state.discriminator.params)
  new = common.update(state.discriminator, discriminator_optimizer(c), grads, {}, axis_name)
  return state.replace(discriminator=new), common.pmean(metrics, axis_name)


def generator_objective(config: FramesConfig, params, discriminator_params, batch: dict):
  """(lambda_adv L_adv^G + lambda_lp L_p + lambda_gdl L_gdl of G's ``params`` on ``batch``, its
  parts: 'lp', 'gdl', 'g_adv' (those the loss has, unweighted, each summed over the scales) and
  'mse', the finest scale's, for the log)."""
  _, d = networks(config)
  targets = pyramid(batch["target"], config.scales)
  predictions = generate(config, params, batch["inputs"])
  parts = reconstruction_losses(config, predictions, targets)
  loss = config.lambda_lp * parts.get("lp", 0.0) + config.lambda_gdl * parts.get("gdl", 0.0)
  if config.adversarial:
    logits = d.apply({"params": discriminator_params}, batch["inputs"], predictions)
    parts["g_adv"] = sum(losses.generator_loss_non_saturating(l) for l in logits)
    loss = loss + config.lambda_adv * parts["g_adv"]
  parts["mse"] = losses.lp_loss(predictions[-1], targets[-1], 2)
  return loss, parts


def generator_step(state: FramesState, batch: dict, key=None, axis_name: str | None = None):
  """One SGD step of G on ``generator_objective``, D fixed."""
  c = state.config

  def loss_fn(params):
    loss, parts = generator_objective(c, params, state.discriminator.params, batch)
    return loss, {"g_loss": loss, **parts}

  grads, metrics = jax.grad(loss_fn, has_aux=True)(state.generator.params)
  new = common.update(state.generator, generator_optimizer(c), grads, {}, axis_name)
  return state.replace(generator=new, step=state.step + 1), common.pmean(metrics, axis_name)


def train_step(state: FramesState, data: dict, key, axis_name: str | None = None):
  """One iteration: with the adversarial loss a D step, then a G step, each on its own minibatch
  drawn inside jit from ``data``; without it, a G step."""
  k_d, k_g = jax.random.split(key)
  metrics = {}
  if state.config.adversarial:
    state, metrics = discriminator_step(state, draw_batch(data, k_d, state.config, axis_name),
                                        axis_name=axis_name)
  state, g_metrics = generator_step(state, draw_batch(data, k_g, state.config, axis_name),
                                    axis_name=axis_name)
  return state, {**metrics, **g_metrics}


def predict(state: FramesState, frames: jax.Array, n: int = 2) -> jax.Array:
  """The next ``n`` frames [B, n, H, W, C] after ``frames`` [B, >= input_frames, H, W, C] in
  [-1, 1]: each prediction (the finest scale) is fed back as the newest input frame, as the
  paper predicts its second frame. Any size whose sides divide by the largest scale factor (the
  generator is convolutional: train on patches, predict whole frames)."""
  c = state.config
  h, w = frames.shape[2:4]
  if h % max(c.scales) or w % max(c.scales):
    raise ValueError(f"{h}x{w} frames cannot be down-sampled by {max(c.scales)}.")
  g, _ = networks(c)

  def feed_back(window, _):  # a scan, so the generator compiles once for all n frames
    y = g.apply({"params": state.generator.params}, stack_inputs(window))[-1]
    return jnp.concatenate([window[:, 1:], y[:, None]], 1), y

  _, ys = jax.lax.scan(feed_back, frames[:, -c.input_frames:], length=n)
  return jnp.moveaxis(ys, 0, 1)
