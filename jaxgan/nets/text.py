"""Reed et al. (CVPR 2016) character-level CNN-RNN text encoder and a small image encoder for the
deep structured joint embedding.

Text (reedscot/cvpr2016's HybridCNN, long-document form): one-hot characters [B, 201, 69] ->
temporal convolution of width 4 to 384 features, ReLU, max-pool 3 -> width 4 to 512, ReLU, max-pool
3 -> width 4 to ``cnn_dim`` (256), ReLU: 18 steps left of 201 -> a ReLU recurrent layer over them
(h_t = relu(W_i x_t + W_h h_{t-1}), no recurrent term at the first step) -> the mean of h over time
-> linear to the embedding (1024). Parameters start uniform in [-0.08, 0.08], as in Reed's script.

Images: Reed's runs used fixed GoogLeNet features. Here a small convolutional encoder (stride-2
4x4 convolutions down to 4x4, then linear) trains jointly, or, with the text encoder's
``image_encoder="fixed"``, a data set's fixed features are the image embedding themselves.
"""

import jax
import jax.numpy as jnp
from flax import linen as nn

from jaxgan.data.captions import ALPHABET
from jaxrun.conv import Conv, conv_valid

REED_INIT = nn.initializers.uniform(scale=0.16)  # U[0, 0.16) shifted below to U[-0.08, 0.08)


def _reed_init(key, shape, dtype=jnp.float32):
  return REED_INIT(key, shape, dtype) - 0.08


class TemporalConv(nn.Module):
  """A width-``width`` VALID convolution over time, [B, T, C] -> [B, T - width + 1, F] (computed as
  a 1 x width image convolution, so it takes the loop-safe path of :mod:`jaxrun.conv`)."""

  features: int
  width: int = 4

  @nn.compact
  def __call__(self, x):
    kernel = self.param("kernel", _reed_init, (self.width, x.shape[-1], self.features))
    bias = self.param("bias", _reed_init, (self.features,))
    return conv_valid(x[:, None], kernel[None])[:, 0] + bias


def max_pool_time(x, size: int = 3):
  """Non-overlapping max-pooling over time (a remainder shorter than ``size`` is dropped)."""
  b, t, f = x.shape
  t = t // size
  return x[:, :t * size].reshape(b, t, size, f).max(2)


class CharCNNRNN(nn.Module):
  """``codes`` int [B, L] (1-based character indices, 0 = padding) -> embeddings [B, emb_dim]."""

  emb_dim: int = 1024
  cnn_dim: int = 256
  conv_features: tuple[int, int] = (384, 512)  # the first two convolutions (Reed's)
  alphabet_size: int = len(ALPHABET)

  @nn.compact
  def __call__(self, codes):
    x = jax.nn.one_hot(codes.astype(jnp.int32) - 1, self.alphabet_size)  # padding: all zeros
    h = max_pool_time(nn.relu(TemporalConv(self.conv_features[0])(x)))
    h = max_pool_time(nn.relu(TemporalConv(self.conv_features[1])(h)))
    h = nn.relu(TemporalConv(self.cnn_dim)(h))
    if h.shape[1] < 1:
      raise ValueError(f"captions of {codes.shape[1]} characters are too short for the three "
                       "convolutions; use at least 39.")
    dense = lambda name: nn.Dense(self.cnn_dim, kernel_init=_reed_init, bias_init=_reed_init,
                                  name=name)
    w_in, w_rec = dense("rnn_input"), dense("rnn_recurrent")
    state, states = None, []
    for t in range(h.shape[1]):
      pre = w_in(h[:, t]) if state is None else w_in(h[:, t]) + w_rec(state)
      state = nn.relu(pre)
      states.append(state)
    mean = jnp.mean(jnp.stack(states, 1), 1)
    return nn.Dense(self.emb_dim, kernel_init=_reed_init, bias_init=_reed_init, name="embed")(mean)


class ImageEncoder(nn.Module):
  """Images [B, S, S, C] in [-1, 1] -> embeddings [B, emb_dim]: 4x4 stride-2 convolutions (width,
  2 width, ...) with leaky ReLU down to 4x4, then linear."""

  emb_dim: int = 1024
  width: int = 32

  @nn.compact
  def __call__(self, x):
    h, feats = x, self.width
    while h.shape[1] > 4:
      h = nn.leaky_relu(Conv(feats, 4, stride=2, padding=1)(h), 0.2)
      feats *= 2
    return nn.Dense(self.emb_dim)(h.reshape(h.shape[0], -1))
