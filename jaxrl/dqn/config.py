"""DQN's hyperparameters and the papers' presets. A config is plain data: constructing one checks
its values and builds nothing; :func:`check_environment` checks it against its environment, once,
where the agent is built."""

import dataclasses

from jaxrl.envs import atari
from jaxrl.nets import NETWORKS
from jaxrun import sweeps
from jaxrun.devices import check_run_layout

LOSSES = ("squared", "huber")
OPTIMIZERS = ("adam", "rmsprop")
PRESETS = ("cleanrl", "minatar", "nature", "cleanrl-atari")


@dataclasses.dataclass(frozen=True)
class DQNConfig:
  """DQN hyperparameters. Defaults are the ``cleanrl`` preset (CleanRL dqn_jax.py, CartPole)."""

  env: str = "CartPole-v1"          # gymnax id (CartPole-v1, Breakout-MinAtar, ...) or envpool Atari game (Pong-v5, ...)
  total_steps: int = 500_000        # environment steps, all parallel environments together
  num_envs: int = 1                 # parallel environments per agent
  network: str = "auto"             # auto: nature for 4x84x84 frames, minatar for other images, mlp
  hidden: tuple[int, ...] = (120, 84)  # mlp widths
  buffer_size: int = 10_000         # replay capacity (transitions)
  batch_size: int = 128             # transitions per minibatch
  gamma: float = 0.99               # discount
  loss: str = "squared"             # squared TD error | huber (the Nature paper's error clipping)
  huber_delta: float = 1.0          # huber: where the loss turns linear (1: the error's gradient clipped to [-1, 1])
  double: bool = False              # Double DQN (van Hasselt et al. 2016) targets
  optimizer: str = "adam"           # adam | rmsprop
  learning_rate: float = 2.5e-4     # the optimiser's step size
  adam_eps: float = 1e-8            # adam: epsilon
  rmsprop_decay: float = 0.95       # rmsprop: squared-gradient momentum
  rmsprop_eps: float = 0.01         # rmsprop: min squared gradient
  rmsprop_centered: bool = True     # rmsprop: centred (divides by the gradient's variance)
  rmsprop_eps_in_sqrt: bool = True  # DeepMind's RMSProp: sqrt(v - m^2 + eps); PyTorch: sqrt(...) + eps
  max_grad_norm: float | None = None  # clip the gradient to this global norm (none: no clipping)
  train_every: int = 10             # environment steps between updates
  gradient_steps: int = 1           # updates each time
  learning_starts: int = 10_000     # environment steps before the first update
  target_update_every: int = 500    # the target network's period
  target_update_unit: str = "steps"  # steps (environment steps) | updates (gradient updates)
  tau: float = 1.0                  # 1: hard copy; < 1: Polyak averaging at each target update
  epsilon_start: float = 1.0        # exploration at the start
  epsilon_end: float = 0.05         # exploration after the decay
  exploration_fraction: float = 0.5  # of total_steps, unless exploration_steps is set
  exploration_steps: int | None = None  # environment steps over which epsilon decays (overrides exploration_fraction)
  eval_epsilon: float = 0.0         # greedy evaluation; 0.05 is the Atari convention
  eval_episodes: int = 10           # evaluation episodes per seed (Atari: whole games)
  fire_reset: bool = False          # Atari: press FIRE after a reset (CleanRL's FireResetEnv; not in the paper)
  sticky_actions: float = 0.0       # Atari: repeat_action_probability (0: Mnih 2015; ALE v5 default 0.25)

  def __post_init__(self):
    _check(self)

  # ---- presets ----------------------------------------------------------------------------------

  @classmethod
  def cleanrl(cls, env: str = "CartPole-v1", **kw) -> "DQNConfig":
    """CleanRL dqn_jax.py defaults: Adam 2.5e-4, buffer 10k, batch 128, target copied every 500
    steps, an update every 10 steps, epsilon 1 -> 0.05 over half the run, learning starts at 10k,
    gamma 0.99, squared loss, 500k steps, Q-network 120-84."""
    return cls(env=env, **kw)

  @classmethod
  def minatar(cls, env: str = "Breakout-MinAtar", **kw) -> "DQNConfig":
    """Young & Tian 2019 (MinAtar examples/dqn.py): batch 32, buffer 100k, target every 1,000
    steps, an update every step, epsilon 1 -> 0.1 over the first 100k frames, replay start 5,000,
    gamma 0.99, Huber loss, PyTorch's centred RMSProp (lr 2.5e-4, alpha 0.95, eps 0.01 added
    outside the square root), 5M frames; the 16-channel conv + 128-unit Q-network."""
    base = dict(total_steps=5_000_000, buffer_size=100_000, batch_size=32, loss="huber",
                optimizer="rmsprop", learning_rate=2.5e-4, rmsprop_decay=0.95, rmsprop_eps=0.01,
                rmsprop_centered=True, rmsprop_eps_in_sqrt=False, train_every=1,
                learning_starts=5_000, target_update_every=1_000, epsilon_end=0.1,
                exploration_steps=100_000)
    return cls(env=env, **{**base, **kw})

  @classmethod
  def nature(cls, env: str = "Breakout-MinAtar", **kw) -> "DQNConfig":
    """Mnih et al. 2015, Extended Data Table 1: batch 32, replay memory 1M, target network updated
    every 10,000 parameter updates, an update every 4 actions, epsilon 1 -> 0.1 over the first 1M
    frames, replay start 50,000, gamma 0.99, the error clipped to [-1, 1] (Huber loss), centred
    RMSProp (lr 2.5e-4, decay 0.95, min squared gradient 0.01 inside the square root), evaluation
    at epsilon 0.05."""
    base = dict(total_steps=10_000_000, buffer_size=1_000_000, batch_size=32, loss="huber",
                optimizer="rmsprop", learning_rate=2.5e-4, rmsprop_decay=0.95, rmsprop_eps=0.01,
                rmsprop_centered=True, rmsprop_eps_in_sqrt=True, train_every=4,
                learning_starts=50_000, target_update_every=10_000, target_update_unit="updates",
                epsilon_end=0.1, exploration_steps=1_000_000, eval_epsilon=0.05)
    return cls(env=env, **{**base, **kw})

  @classmethod
  def cleanrl_atari(cls, env: str = "Breakout-v5", **kw) -> "DQNConfig":
    """CleanRL dqn_atari_jax.py defaults: Adam 1e-4, buffer 1M, batch 32, target copied every
    1,000 steps, an update every 4 steps, epsilon 1 -> 0.01 over the first 10% of 10M steps,
    learning starts at 80k, gamma 0.99, squared loss, the Nature CNN; its environment presses FIRE
    after resets (FireResetEnv) and has no sticky actions. Evaluation at epsilon 0.05."""
    base = dict(total_steps=10_000_000, buffer_size=1_000_000, batch_size=32, loss="squared",
                optimizer="adam", learning_rate=1e-4, train_every=4, learning_starts=80_000,
                target_update_every=1_000, epsilon_end=0.01, exploration_fraction=0.1,
                eval_epsilon=0.05, fire_reset=True)
    return cls(env=env, **{**base, **kw})

  @classmethod
  def preset(cls, name: str, env: str, **kw) -> "DQNConfig":
    if name not in PRESETS:
      raise ValueError(f"unknown preset {name!r}; choose one of {PRESETS}.")
    return getattr(cls, name.replace("-", "_"))(env, **kw)

  # ---- derived quantities -----------------------------------------------------------------------

  @property
  def atari(self) -> bool:
    return atari.is_game(self.env)

  @property
  def pool_options(self) -> dict:
    """envpool options of the training environments, on top of atari.MNIH2015."""
    return {"use_fire_reset": self.fire_reset, "repeat_action_probability": self.sticky_actions}

  @property
  def steps_per_env(self) -> int:
    """Vector-environment steps per iteration."""
    return self.train_every // self.num_envs

  @property
  def num_iterations(self) -> int:
    return self.total_steps // self.train_every

  @property
  def epsilon_decay_steps(self) -> int:
    if self.exploration_steps is not None:
      return self.exploration_steps
    return int(self.exploration_fraction * self.total_steps)


def _check(c: DQNConfig) -> None:
  def fail(msg):
    raise ValueError(msg)

  for name in ("total_steps", "num_envs", "buffer_size", "batch_size", "train_every",
               "gradient_steps", "target_update_every", "eval_episodes"):
    if getattr(c, name) < 1:
      fail(f"{name} must be >= 1, got {getattr(c, name)}.")
  if not c.hidden or any(h < 1 for h in c.hidden):
    fail(f"hidden widths must each be >= 1 (and at least one), got {tuple(c.hidden)}.")
  for name in ("epsilon_start", "epsilon_end", "eval_epsilon", "exploration_fraction"):
    if not 0.0 <= getattr(c, name) <= 1.0:
      fail(f"{name} must lie in [0, 1], got {getattr(c, name)}.")
  if not 0.0 <= c.gamma <= 1.0:
    fail(f"gamma must lie in [0, 1], got {c.gamma}.")
  if not 0.0 < c.tau <= 1.0:
    fail(f"tau must lie in (0, 1] (1 = hard target copy), got {c.tau}.")
  if not 0.0 <= c.sticky_actions <= 1.0:
    fail(f"sticky_actions must lie in [0, 1], got {c.sticky_actions}.")
  if c.learning_rate <= 0:
    fail(f"learning_rate must be > 0, got {c.learning_rate}.")
  if c.huber_delta <= 0:
    fail(f"huber_delta must be > 0, got {c.huber_delta}.")
  if c.max_grad_norm is not None and c.max_grad_norm <= 0:
    fail(f"max_grad_norm must be > 0, got {c.max_grad_norm}.")
  if c.batch_size > c.buffer_size:
    fail(f"batch size {c.batch_size} is larger than the replay buffer ({c.buffer_size}); lower "
         "--batch-size or raise --buffer-size.")
  if c.num_envs > c.buffer_size:
    fail(f"{c.num_envs} parallel environments add more transitions per step than the buffer "
         f"holds ({c.buffer_size}).")
  if c.learning_starts < c.batch_size:
    fail(f"learning_starts ({c.learning_starts}) must be >= the batch size ({c.batch_size}): the "
         "first update samples a full batch from the buffer.")
  if c.train_every % c.num_envs:
    fail(f"train_every ({c.train_every} environment steps) must be a multiple of num_envs "
         f"({c.num_envs}): each iteration steps every environment train_every / num_envs times.")
  if c.total_steps < c.train_every:
    fail(f"total_steps ({c.total_steps}) is less than one iteration (train_every = {c.train_every}).")
  if c.learning_starts >= c.total_steps:
    fail(f"learning_starts ({c.learning_starts}) must be below total_steps ({c.total_steps}), or "
         "nothing is learned.")
  if c.exploration_steps is not None and c.exploration_steps < 0:
    fail(f"exploration_steps must be >= 0, got {c.exploration_steps}.")
  if c.loss not in LOSSES:
    fail(f"unknown loss {c.loss!r}; choose one of {LOSSES}.")
  if c.optimizer not in OPTIMIZERS:
    fail(f"unknown optimizer {c.optimizer!r}; choose one of {OPTIMIZERS}.")
  if c.target_update_unit not in ("steps", "updates"):
    fail(f"target_update_unit must be 'steps' or 'updates', got {c.target_update_unit!r}.")
  if c.network not in ("auto", *NETWORKS):
    fail(f"unknown network {c.network!r}; choose auto or one of {NETWORKS}.")
  if not c.atari and (c.fire_reset or c.sticky_actions):
    fail(f"fire_reset and sticky_actions are Atari (envpool) options; {c.env} is a gymnax "
         "environment.")
  if c.atari and c.buffer_size % c.num_envs:
    fail(f"the Atari replay stores {c.num_envs} environments' frames side by side: buffer_size "
         f"({c.buffer_size}) must be a multiple of num_envs.")


# ---- sweeps: hyperparameters that change no shape, as per-run arrays -----------------------------

SWEEPABLE = {  # field -> the type of its values (algorithm.hyperparameters holds them per run)
    "learning_rate": float, "gamma": float, "tau": float, "huber_delta": float,
    "max_grad_norm": float, "epsilon_start": float, "epsilon_end": float, "exploration_steps": int,
    "target_update_every": int}

_FIXED = {  # why a field cannot be swept
    **dict.fromkeys(("hidden", "network", "buffer_size", "batch_size", "num_envs", "eval_episodes"),
                    "it sets array shapes"),
    **dict.fromkeys(("loss", "double", "optimizer", "target_update_unit", "rmsprop_centered",
                     "rmsprop_eps_in_sqrt"), "it chooses the program's code"),
    **dict.fromkeys(("total_steps", "train_every", "gradient_steps", "learning_starts"),
                    "the loop is built around it (its length and schedule)"),
    **dict.fromkeys(("env", "fire_reset", "sticky_actions"), "it chooses the environment"),
    "exploration_fraction": "it is a share of total_steps; sweep the decay length, exploration_steps",
    "eval_epsilon": "evaluation runs after training; use `jaxrl eval RUN --epsilon`",
}


def parse_sweep(specs) -> dict[str, tuple]:
  """``("learning_rate=1e-4,1e-3", "gamma=0.98,0.99")`` -> {field: values} (jaxrun.sweeps)."""
  return sweeps.parse(specs, SWEEPABLE, _FIXED, DQNConfig, "DQN")


def sweep_grid(config: DQNConfig, sweep: dict[str, tuple]) -> list[tuple[dict, DQNConfig]]:
  """Every combination of the swept values (the first field varying slowest) as (its values,
  the config with them); each config is checked. No sweep: [({}, config)]."""
  return sweeps.grid(config, sweep)


def network_kind(config: DQNConfig, env) -> str:
  """The Q-network for ``env``'s observations: the config's, or by shape (``auto``)."""
  if config.network != "auto":
    return config.network
  if tuple(env.observation_shape) == (4, 84, 84):
    return "nature"
  return "minatar" if len(env.observation_shape) == 3 else "mlp"


def check_environment(config: DQNConfig, env) -> None:
  """The checks that need the environment (``env``: gymnax adapter or Atari spec): discrete
  actions, and observations the Q-network takes."""
  env.num_actions  # a non-discrete action space fails here
  kind = network_kind(config, env)
  if kind == "minatar" and tuple(env.observation_shape[:2]) != (10, 10):
    raise ValueError(f"the MinAtar Q-network takes 10x10xC observations; {config.env} gives "
                     f"{env.observation_shape}.")
  if kind == "nature" and tuple(env.observation_shape) != (4, 84, 84):
    raise ValueError(f"the Nature Q-network takes 4x84x84 frame stacks; {config.env} gives "
                     f"{env.observation_shape}.")


ENV_STEPPING = ("auto", "xla", "host")


@dataclasses.dataclass(frozen=True)
class DQNSettings:
  env: str = "CartPole-v1"     # gymnax environment (CartPole-v1, Acrobot-v1, MountainCar-v0, the MinAtar games) or envpool Atari game (Pong-v5, Breakout-v5, ...; needs the atari extra)
  seeds: int = 1               # independent agents trained together in one program (see --seed-layout); Atari: 1
  devices: int = 1             # devices the seeds are split over, each running its own seeds' loop (a CPU-only machine gets that many CPU devices, one thread each); must divide --seeds
  env_stepping: str = "auto"   # Atari: step envpool inside jit (xla) or from Python (host); auto: xla, host on TPU
  seed_layout: str = "vmap"    # vmap: the seeds batched in one computation; loops: each seed its own loop in the program, bitwise the same seed trained alone on any --seeds and --devices (a vmap's last bits depend on its width), its compilation growing with the seeds
  sweep: tuple[str, ...] = dataclasses.field(default=(), metadata={"repeatable": True, "metavar": "FIELD=V1,V2"})  # FIELD=V1,V2,...: train every combination of the values (times --seeds) in one program; repeat the flag for more fields; sweepable: learning_rate gamma tau huber_delta max_grad_norm epsilon_start epsilon_end exploration_steps target_update_every

  def __post_init__(self):
    object.__setattr__(self, "sweep", tuple(self.sweep))
    parse_sweep(self.sweep)  # bad input fails here, before any work
    if self.seeds < 1:
      raise ValueError(f"seeds must be >= 1, got {self.seeds}.")
    if self.devices < 1 or self.seeds % self.devices:
      raise ValueError(f"--devices ({self.devices}) must be at least 1 and divide --seeds "
                       f"({self.seeds}): each device trains the same number of seeds.")
    check_run_layout(self.seed_layout)
    if self.env_stepping not in ENV_STEPPING:
      raise ValueError(f"env_stepping must be one of {ENV_STEPPING}, got {self.env_stepping!r}.")
