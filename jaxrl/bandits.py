"""The bandit view of exploration: sample-average epsilon-greedy action values (Sutton & Barto,
Section 2.3-2.4) on gymnax's Bernoulli and Gaussian bandits.

Each run draws a bandit from the environment's reset (its arm means are the environment's hidden
state), then for ``steps`` pulls keeps Q(a) = the mean reward of arm a so far (incremental update
Q += (R - Q) / N(a)), picks argmax Q (ties broken at random) or, with probability epsilon, a
uniform arm. Regret at step t is max_a mu(a) - mu(A_t): the expected reward lost to the choice,
summed over time into the cumulative regret curve. Runs are vmapped; everything is one jitted scan.
"""

import jax
import jax.numpy as jnp

from jaxrl import envs


def arm_means(name: str, env_state) -> jax.Array:
  """The expected reward of each arm of a gymnax bandit, read off its hidden state."""
  if name == "BernoulliBandit-misc":
    return env_state.reward_probs
  if name == "GaussianBandit-misc":  # arm 0 pays 0; arm 1 pays N(mu, sigma_l)
    return jnp.stack([jnp.zeros_like(env_state.mu), env_state.mu])
  raise ValueError(f"no bandit {name!r}; choose one of {envs.BANDITS}.")


def select_arm(key, q: jax.Array, eps) -> jax.Array:
  """Epsilon-greedy on action values ``q`` with random tie-breaking among the maximisers."""
  k_explore, k_arm, k_tie = jax.random.split(key, 3)
  best = q == jnp.max(q)
  greedy = jax.random.categorical(k_tie, jnp.where(best, 0.0, -jnp.inf))
  explore = jax.random.uniform(k_explore) < eps
  return jnp.where(explore, jax.random.randint(k_arm, (), 0, q.shape[0]), greedy)


def sample_average_update(q: jax.Array, counts: jax.Array, arm, reward) -> tuple[jax.Array, jax.Array]:
  """Q_{n+1} = Q_n + (R - Q_n) / n for the pulled arm."""
  counts = counts.at[arm].add(1)
  q = q.at[arm].add((reward - q[arm]) / counts[arm])
  return q, counts


def run_bandit(name: str, key, eps, steps: int, env_params: dict | None = None) -> dict:
  """One epsilon-greedy agent on one bandit drawn from ``name``'s reset (gymnax parameters
  ``env_params``, e.g. reward_prob for the Bernoulli bandit); per-step reward, regret and whether
  the optimal arm was chosen."""
  # One bandit for the whole run: the episode (and so the arm means) outlasts the steps.
  env = envs.make(name, **{**(env_params or {}), "max_steps_in_episode": steps + 1})
  k_reset, k_run = jax.random.split(key)
  _, state = env.reset(k_reset)
  means = arm_means(name, state.env_state)
  num_arms = means.shape[0]

  def step(carry, k):
    state, q, counts = carry
    k_arm, k_env = jax.random.split(k)
    arm = select_arm(k_arm, q, eps)
    _, state, reward, _, _, _ = env.step(k_env, state, arm)
    q, counts = sample_average_update(q, counts, arm, reward)
    out = {"reward": reward, "regret": jnp.max(means) - means[arm],
           "optimal": arm == jnp.argmax(means)}
    return (state, q, counts), out

  carry = (state, jnp.zeros(num_arms), jnp.zeros(num_arms, jnp.int32))
  _, out = jax.lax.scan(step, carry, jax.random.split(k_run, steps))
  return out


def regret_curves(name: str, key, epsilons, steps: int = 1000, runs: int = 2000,
                  env_params: dict | None = None) -> dict:
  """For each epsilon: mean over ``runs`` bandits of the reward, the share of optimal choices and
  the cumulative regret at every step (arrays [len(epsilons), steps])."""
  if name not in envs.BANDITS:
    raise ValueError(f"unknown bandit {name!r}; choose one of {envs.BANDITS}.")
  for eps in epsilons:
    if not 0.0 <= eps <= 1.0:
      raise ValueError(f"epsilon must lie in [0, 1], got {eps}.")
  if steps < 1 or runs < 1:
    raise ValueError(f"steps and runs must be >= 1, got {steps} and {runs}.")

  @jax.jit
  def curves(eps_values):
    def one_epsilon(eps):  # the same bandits and keys for every epsilon: common random numbers
      out = jax.vmap(lambda k: run_bandit(name, k, eps, steps, env_params))(jax.random.split(key, runs))
      return {"reward": out["reward"].mean(0), "optimal": out["optimal"].mean(0),
              "cumulative_regret": jnp.cumsum(out["regret"], -1).mean(0)}
    return jax.lax.map(one_epsilon, eps_values)

  return jax.device_get(curves(jnp.asarray(epsilons, jnp.float32)))
