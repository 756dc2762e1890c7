"""Parzen-window log-likelihood (Goodfellow et al. 2014, Table 1; the released parzen_ll.py).

An isotropic Gaussian kernel of width sigma on each of the generated samples; sigma is chosen
from logspace(-1, 0, 10) by the mean log-likelihood of the validation split, then the test split
is scored: mean +- standard error. Images are scored in [0, 1] as in the paper.
"""

import jax
import jax.numpy as jnp
import numpy as np

SIGMAS = tuple(np.logspace(-1.0, 0.0, 10))


@jax.jit
def _log_likelihood(x: jax.Array, samples: jax.Array, sigma: jax.Array) -> jax.Array:
  """log (1/m) sum_i N(x; samples_i, sigma^2 I) for each row of x."""
  d = x.shape[1]
  sq = (jnp.sum(x**2, 1)[:, None] + jnp.sum(samples**2, 1)[None, :] - 2.0 * x @ samples.T)
  sq = jnp.maximum(sq, 0.0)
  log_kernel = jax.nn.logsumexp(-sq / (2.0 * sigma**2), axis=1)
  return log_kernel - jnp.log(samples.shape[0]) - 0.5 * d * jnp.log(2.0 * jnp.pi * sigma**2)


def log_likelihood(x: np.ndarray, samples: np.ndarray, sigma: float, batch_size: int = 256) -> np.ndarray:
  """Per-example Parzen log-likelihood of ``x`` [n, ...] under ``samples`` [m, ...], in batches."""
  x = np.asarray(x, np.float32).reshape(len(x), -1)
  mu = jnp.asarray(np.asarray(samples, np.float32).reshape(len(samples), -1))
  out = [_log_likelihood(jnp.asarray(x[i:i + batch_size]), mu, jnp.float32(sigma))
         for i in range(0, len(x), batch_size)]
  return np.concatenate([np.asarray(o) for o in out])


def parzen_evaluation(samples: np.ndarray, validation: np.ndarray, test: np.ndarray,
                      sigmas=SIGMAS) -> dict:
  """sigma by validation likelihood, then the test log-likelihood as mean and standard error."""
  val_ll = [float(np.mean(log_likelihood(validation, samples, s))) for s in sigmas]
  sigma = float(sigmas[int(np.argmax(val_ll))])
  ll = log_likelihood(test, samples, sigma)
  return {"parzen_ll": float(ll.mean()), "parzen_se": float(ll.std() / np.sqrt(len(ll))),
          "parzen_sigma": sigma}
