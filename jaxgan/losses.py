"""Adversarial losses as pure functions of discriminator logits or critic scores.

Every loss is a scalar to *minimise*. Losses on logits use ``softplus`` so that
``log D = -softplus(-l)`` and ``log(1 - D) = -softplus(l)`` never take the log of
a rounded-off probability.
"""

import jax
import jax.numpy as jnp
import optax

from jaxgan.nets.frames import downsample


def discriminator_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """-(E log D(x) + E log(1 - D(G(z)))): Goodfellow et al. 2014, Algorithm 1 (ascent, negated)."""
  return jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))


def generator_loss_saturating(fake_logits: jax.Array) -> jax.Array:
  """E log(1 - D(G(z))): the minimax generator objective of Algorithm 1."""
  return -jnp.mean(jax.nn.softplus(fake_logits))


def generator_loss_non_saturating(fake_logits: jax.Array) -> jax.Array:
  """-E log D(G(z)): the heuristic of Section 3 that the released code trains with."""
  return jnp.mean(jax.nn.softplus(-fake_logits))


GENERATOR_LOSSES = {
    "saturating": generator_loss_saturating,
    "non_saturating": generator_loss_non_saturating,
}


def critic_loss(real_scores: jax.Array, fake_scores: jax.Array) -> jax.Array:
  """E f(G(z)) - E f(x): the critic maximises the Wasserstein estimate (Arjovsky et al. 2017)."""
  return jnp.mean(fake_scores) - jnp.mean(real_scores)


def wasserstein_generator_loss(fake_scores: jax.Array) -> jax.Array:
  """-E f(G(z))."""
  return -jnp.mean(fake_scores)


def wasserstein_estimate(real_scores: jax.Array, fake_scores: jax.Array) -> jax.Array:
  """E f(x) - E f(G(z)): the critic's estimate of W(P_r, P_g) (up to the Lipschitz constant)."""
  return jnp.mean(real_scores) - jnp.mean(fake_scores)


def sje_hinge(scores: jax.Array, margin: float = 1.0) -> jax.Array:
  """One direction of the structured joint embedding loss: row i of ``scores`` [B, B] holds the
  compatibility of query i with every class in the batch, the true class on the diagonal. The sum
  over the wrong classes of max(0, margin + score - true score) (the 0-1 class loss as margin),
  divided by B * B as in Reed et al.'s code."""
  b = scores.shape[0]
  true = jnp.diagonal(scores)[:, None]
  hinge = jax.nn.relu(margin + scores - true) * (1.0 - jnp.eye(b, dtype=scores.dtype))
  return jnp.sum(hinge) / (b * b)


def sje_loss(image_emb: jax.Array, text_emb: jax.Array, margin: float = 1.0) -> jax.Array:
  """Reed et al. 2016's deep symmetric structured joint embedding loss for a batch of B distinct
  classes (row i of both embeddings belongs to class i; class-averaged where a class has several
  images or captions): with compatibility F(v, t) = theta(v)^T phi(t), the image -> text hinge (each
  image against every class's text) plus the text -> image hinge (each text against every class's
  image)."""
  scores = image_emb @ text_emb.T  # F(v_i, t_j)
  return sje_hinge(scores, margin) + sje_hinge(scores.T, margin)


def matching_aware_discriminator_loss(real_logits: jax.Array, wrong_logits: jax.Array,
                                      fake_logits: jax.Array, real_unconditional=None,
                                      fake_unconditional=None) -> jax.Array:
  """The matching-aware discriminator (Reed et al. ICML 2016, StackGAN): a real image with its own
  text is real; a real image with mismatched text and a generated image with the text are fake.
  As StackGAN's code: real + (mismatched + fake) / 2, each a mean cross-entropy. With the
  unconditional head's logits (the official PyTorch Stage-II): (real + real unconditional) / 2 +
  (mismatched + fake + fake unconditional) / 3."""
  real, wrong, fake = (jnp.mean(jax.nn.softplus(-real_logits)),
                       jnp.mean(jax.nn.softplus(wrong_logits)), jnp.mean(jax.nn.softplus(fake_logits)))
  if real_unconditional is None:
    return real + 0.5 * (wrong + fake)
  return (0.5 * (real + jnp.mean(jax.nn.softplus(-real_unconditional)))
          + (wrong + fake + jnp.mean(jax.nn.softplus(fake_unconditional))) / 3.0)


def conditioning_kl(mu: jax.Array, log_sigma: jax.Array) -> jax.Array:
  """KL(N(mu, sigma^2) || N(0, I)) of conditioning augmentation, per dimension
  -log sigma + (sigma^2 + mu^2 - 1) / 2, averaged over the batch and the dimensions as both
  official StackGAN codes do."""
  return jnp.mean(-log_sigma + 0.5 * (jnp.exp(2.0 * log_sigma) + jnp.square(mu) - 1.0))


def colour_statistics(images: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Each image's pixel colour mean [B, C] and covariance [B, C, C] (divided by the pixel count)."""
  pixels = images.reshape(images.shape[0], -1, images.shape[-1])
  mean = jnp.mean(pixels, axis=1)
  centred = pixels - mean[:, None, :]
  return mean, jnp.einsum("bpi,bpj->bij", centred, centred) / pixels.shape[1]


def colour_consistency(images: jax.Array, reference: jax.Array, covariance_weight: float = 5.0
                       ) -> jax.Array:
  """StackGAN++'s colour-consistency regulariser (Zhang et al. 2018, eq. 6): the mean squared
  difference of the images' pixel colour means plus ``covariance_weight`` (lambda2 / lambda1 = 5 in
  the paper and the official code) times that of their colour covariances; the two image sets may
  differ in resolution (each image's statistics are over its own pixels)."""
  (mean, cov), (ref_mean, ref_cov) = colour_statistics(images), colour_statistics(reference)
  return (jnp.mean(jnp.square(mean - ref_mean))
          + covariance_weight * jnp.mean(jnp.square(cov - ref_cov)))


def pooled_l1(images: jax.Array, reference: jax.Array) -> jax.Array:
  """The L1 loss (:func:`lp_loss`, p = 1) of ``images`` [B, H, W, C], average-pooled down to the
  side of ``reference`` [B, h, w, C] (H / h an integer), against ``reference``: a super-resolution
  content loss, the high-resolution image must shrink back to the low-resolution one."""
  h, w = reference.shape[1:3]
  factor = images.shape[1] // h
  if (factor * h, factor * w) != images.shape[1:3]:
    raise ValueError(f"images of {images.shape[1:3]} do not pool to {(h, w)}: the sides must be "
                     "integer multiples of them, the same for both.")
  return lp_loss(downsample(images, factor), reference, p=1)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean softmax cross-entropy of integer ``labels``: a task classifier's loss."""
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def masked_pairwise_mse(predictions: jax.Array, targets: jax.Array,
                        mask: jax.Array | None = None) -> jax.Array:
  """PixelDA's content-similarity loss (Bousmalis et al. 2017, Eq. 5), averaged over the batch:
  with d = (x - G(x, z)) o m over the k values of an example (k = H * W * C; ``mask`` m broadcasts
  to the images, default all ones),

      L_c = 1/k ||d||^2 - 1/k^2 (sum d)^2,

  the variance of the difference: it penalises the difference between pairs of pixels, not an
  offset of the whole image. The official code calls TensorFlow's ``mean_pairwise_squared_error``,
  which computes 2 k / (k - 1) times this (about twice Eq. 5)."""
  d = targets - predictions
  if mask is not None:
    d = d * jnp.broadcast_to(mask, d.shape).astype(d.dtype)
  d = d.reshape(d.shape[0], -1)
  k = d.shape[1]
  return jnp.mean(jnp.sum(d * d, 1) / k - jnp.square(jnp.sum(d, 1)) / (k * k))


# ---- next-frame prediction (Mathieu, Couprie & LeCun 2016) ----------------------------------------

def lp_loss(predictions: jax.Array, targets: jax.Array, p: int = 2) -> jax.Array:
  """Eq. 1, L_p = ||Y - Yhat||_p^p, as a mean over the pixels (p = 1 or 2)."""
  if p not in (1, 2):
    raise ValueError(f"lp_loss takes p = 1 or 2, got {p}.")
  d = jnp.abs(targets - predictions)
  return jnp.mean(d if p == 1 else d * d)


def image_gradients(images: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(|Y[i, j] - Y[i - 1, j]|, |Y[i, j] - Y[i, j - 1]|) of [..., H, W, C] images: [..., H-1, W, C]
  and [..., H, W-1, C]."""
  return (jnp.abs(images[..., 1:, :, :] - images[..., :-1, :, :]),
          jnp.abs(images[..., :, 1:, :] - images[..., :, :-1, :]))


def gradient_difference_loss(predictions: jax.Array, targets: jax.Array,
                             alpha: float = 1.0) -> jax.Array:
  """Eq. 5, the gradient difference loss: over the neighbouring pixel pairs of each image axis,
  | |Y_ij - Y_i-1,j| - |Yhat_ij - Yhat_i-1,j| |^alpha, plus the same along j; each sum taken as a
  mean over its pairs (the paper: alpha = 1)."""
  (ti, tj), (pi, pj) = image_gradients(targets), image_gradients(predictions)
  return jnp.mean(jnp.abs(ti - pi) ** alpha) + jnp.mean(jnp.abs(tj - pj) ** alpha)
