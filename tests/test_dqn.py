import dataclasses
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import cli, dqn, envs
from jaxrl.dqn import program as dqn_program
from jaxrun import devices as run_devices

# A short CartPole run: CleanRL's preset with an early start and a short exploration phase.
SMALL = dqn.DQNConfig.cleanrl("CartPole-v1", total_steps=3_000, learning_starts=500,
                              buffer_size=2_000, batch_size=32, target_update_every=200,
                              hidden=(32, 32), exploration_steps=1_500)


# ---- the math -----------------------------------------------------------------------------------


def test_td_target_bootstraps_through_truncation_not_termination():
  reward = jnp.array([1.0, 1.0, 1.0, 0.5])
  terminated = jnp.array([False, True, False, True])
  next_q = jnp.array([[2.0, 3.0], [2.0, 3.0], [-1.0, -4.0], [10.0, 0.0]])
  # The third transition was truncated by a time limit: stored as not terminated, it bootstraps.
  target = dqn.td_target(reward, terminated, next_q, gamma=0.9)
  np.testing.assert_allclose(target, [1 + 0.9 * 3, 1.0, 1 + 0.9 * -1, 0.5], rtol=1e-6)


def test_double_dqn_target_evaluates_the_online_argmax_with_the_target_network():
  next_q_target = jnp.array([[2.0, 3.0, 5.0]])
  next_q_online = jnp.array([[9.0, 0.0, 1.0]])  # online picks action 0
  target = dqn.td_target(jnp.array([0.0]), jnp.array([False]), next_q_target, 0.5, next_q_online)
  np.testing.assert_allclose(target, [0.5 * 2.0])


def test_td_loss_squared_and_huber_by_hand():
  q = jnp.array([[1.0, 2.0], [0.0, -1.0]])
  actions = jnp.array([1, 0])
  targets = jnp.array([2.5, 3.0])  # errors: -0.5, -3.0
  np.testing.assert_allclose(dqn.td_loss(q, actions, targets, "squared"), (0.25 + 9.0) / 2)
  # Huber (delta 1): 0.5 e^2 inside [-1, 1], |e| - 0.5 outside.
  np.testing.assert_allclose(dqn.td_loss(q, actions, targets, "huber"), (0.125 + 2.5) / 2)
  # Its gradient is the TD error clipped to [-1, 1] (Mnih et al. 2015).
  g = jax.grad(lambda q: dqn.td_loss(q, actions, targets, "huber") * 2)(q)
  np.testing.assert_allclose(g, [[0.0, -0.5], [-1.0, 0.0]])


def test_epsilon_schedule_is_linear_then_flat():
  c = dqn.DQNConfig.cleanrl(total_steps=100_000, exploration_fraction=0.5, epsilon_end=0.05)
  eps = [float(dqn.epsilon(dqn.hyperparameters(c), t)) for t in (0, 25_000, 50_000, 80_000)]
  np.testing.assert_allclose(eps, [1.0, 0.525, 0.05, 0.05], rtol=1e-6)
  m = dqn.DQNConfig.minatar()  # an absolute decay: 1 -> 0.1 over the first 100k frames
  np.testing.assert_allclose([float(dqn.epsilon(dqn.hyperparameters(m), t)) for t in (0, 50_000, 10**6)], [1.0, 0.55, 0.1],
                             rtol=1e-6)


def test_epsilon_greedy():
  q = jnp.tile(jnp.array([[0.0, 5.0, 1.0]]), (4000, 1))
  greedy = dqn.epsilon_greedy(jax.random.key(0), q, 0.0)
  assert bool(jnp.all(greedy == 1))
  uniform = np.bincount(np.asarray(dqn.epsilon_greedy(jax.random.key(1), q, 1.0)), minlength=3)
  assert np.all(np.abs(uniform / 4000 - 1 / 3) < 0.03)
  mixed = np.asarray(dqn.epsilon_greedy(jax.random.key(2), q, 0.3))
  assert abs(np.mean(mixed == 1) - (0.7 + 0.3 / 3)) < 0.03


def test_target_network_is_copied_on_schedule_only():
  state = dqn.init(jax.random.key(0), SMALL)
  moved = state.replace(params=jax.tree.map(lambda p: p + 1.0, state.params))
  # period 200 environment steps, 10 per iteration: due when env_steps crosses a multiple of 200.
  after = moved.replace(env_steps=jnp.int32(190))
  chex.assert_trees_all_equal(dqn.update_target(after, 180, 0).target_params, state.target_params)
  after = moved.replace(env_steps=jnp.int32(200))
  chex.assert_trees_all_equal(dqn.update_target(after, 190, 0).target_params, moved.params)
  polyak = moved.replace(hyper={**moved.hyper, "tau": jnp.float32(0.25)})  # tau: a state array
  mixed = dqn.update_target(polyak.replace(env_steps=jnp.int32(200)), 190, 0).target_params
  chex.assert_trees_all_close(mixed, jax.tree.map(lambda t: t + 0.25, state.target_params),
                              rtol=1e-6)


def test_terminal_transition_stores_the_pre_reset_observation():
  """gymnax auto-resets; the buffer's next_obs of a finished episode must be its last observation."""
  c = dqn.DQNConfig.cleanrl("CartPole-v1", total_steps=1_000, learning_starts=500, buffer_size=500,
                            train_every=1, epsilon_start=1.0, epsilon_end=1.0)
  state = dqn.init(jax.random.key(3), c)
  state, m = jax.jit(lambda s: dqn.run(s, 200))(state)
  data = jax.tree.map(np.asarray, state.buffer.data)
  ends = np.flatnonzero(data["terminated"][:200])
  assert len(ends) >= 3  # random actions end CartPole episodes in ~20 steps
  for t in ends:
    # The next transition starts the new episode: its obs is the reset observation, which differs
    # from the stored next_obs (a pole past 12 degrees or a cart off the track).
    assert not np.allclose(data["next_obs"][t], data["obs"][t + 1])
    theta, x = data["next_obs"][t][2], data["next_obs"][t][0]
    assert abs(theta) > 0.2094 or abs(x) > 2.4
  within = np.setdiff1d(np.arange(199), ends)
  np.testing.assert_array_equal(data["next_obs"][within], data["obs"][within + 1])
  assert int(np.sum(m["episodes"])) == len(ends)


def test_adapter_reports_episode_statistics():
  env = envs.make("CartPole-v1")
  obs, state = env.reset(jax.random.key(0))
  step = jax.jit(env.step)
  rewards = 0.0
  for t in range(1000):
    obs, state, r, term, trunc, info = step(jax.random.key(t), state, 0)  # always push left
    rewards += float(r)
    if bool(term | trunc):
      break
  assert bool(term) and not bool(trunc)
  assert float(info["episode_return"]) == rewards and int(info["episode_length"]) == t + 1
  assert int(state.episode_length) == 0  # the next episode's counters


# ---- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kw, message", [
    ({"env": "CartPole-v9"}, "CartPole-v1, Acrobot-v1"),
    ({"env": "Pendulum-v1"}, "discrete actions"),
    ({"batch_size": 512, "buffer_size": 256, "learning_starts": 512}, "larger than the replay buffer"),
    ({"epsilon_end": 1.5}, r"epsilon_end must lie in \[0, 1\]"),
    ({"eval_epsilon": -0.1}, r"eval_epsilon must lie in \[0, 1\]"),
    ({"tau": 0.0}, "tau"),
    ({"learning_starts": 16}, "learning_starts"),
    ({"num_envs": 3}, "multiple of num_envs"),
    ({"loss": "l1"}, "unknown loss"),
    ({"network": "nature"}, "4x84x84 frame stacks"),
])
def test_bad_config_fails_with_a_clear_message(kw, message):
  """Checks of the values when the config is made; those that need the environment when the agent
  is built."""
  with pytest.raises(ValueError, match=message):
    dqn.init(jax.random.key(0), dqn.DQNConfig.cleanrl(**{"env": "CartPole-v1", **kw}))


def test_a_config_builds_nothing():
  config = dqn.DQNConfig.cleanrl("NoSuchEnv-v0")  # no environment is made here
  assert config.env == "NoSuchEnv-v0"
  with pytest.raises(ValueError, match="unknown environment 'NoSuchEnv-v0'"):
    dqn.init(jax.random.key(0), config)


def test_unknown_preset():
  with pytest.raises(ValueError, match="cleanrl"):
    dqn.DQNConfig.preset("rainbow", "CartPole-v1")


@pytest.mark.parametrize("argv, message", [
    (["train", "dqn", "--env", "Pong-v0"], "DQN environments: CartPole-v1"),
    (["train", "dqn", "--batch-size", "20000"], "larger than the replay buffer"),
    (["train", "dqn", "--epsilon-start", "2"], "epsilon_start must lie in"),
    (["train", "dqn", "--env", "MountainCarContinuous-v0"], "discrete actions"),
    (["train", "dqn", "--seeds", "3", "--devices", "2"], "--devices (2) must be at least 1 and divide --seeds (3)"),
    (["train", "dqn", "--seed-layout", "grid"], "seed_layout must be one of ('vmap', 'loops'), got 'grid'"),
    (["train", "dqn", "--sweep", "lr=1e-3"], "--sweep 'lr=1e-3': lr is not a hyperparameter of DQN. Sweepable: learning_rate"),
    (["train", "dqn", "--sweep", "batch_size=32,64"], "batch_size cannot be swept: it sets array shapes"),
    (["train", "dqn", "--sweep", "double=0,1"], "double cannot be swept: it chooses the program's code"),
    (["train", "dqn", "--sweep", "gamma="], "--sweep 'gamma=' lists no values"),
    (["train", "dqn", "--sweep", "gamma"], "write FIELD=V1,V2"),
    (["train", "dqn", "--sweep", "gamma=0.9,high"], "gamma takes float values"),
    (["train", "dqn", "--sweep", "gamma=0.9", "--sweep", "gamma=0.99"], "--sweep lists gamma twice"),
    (["train", "dqn", "--sweep", "gamma=0.9,1.5"], "gamma must lie in [0, 1], got 1.5"),
    (["train", "dqn", "--sweep", "gamma=0.9,0.99", "--gamma", "0.9"], "--gamma and --sweep over gamma both given"),
    (["train", "dqn", "--env", "Pong-v5", "--sweep", "gamma=0.9,0.99"], "an Atari run's envpool pool cannot be vmapped"),
    (["bandit", "--env", "CartPole-v1"], "unknown bandit"),
    (["bandit", "--epsilons", "0.1", "1.5"], "epsilon must lie in"),
])
def test_cli_bad_input_fails_before_any_work(argv, message, tmp_path, capsys):
  assert cli.main(argv + ["--out", str(tmp_path / "run")]) == 2
  assert message in capsys.readouterr().err
  assert not (tmp_path / "run" / "config.json").exists()


# ---- reproducibility ----------------------------------------------------------------------------


def test_same_key_same_parameters_bitwise_different_keys_differ():
  train = jax.jit(dqn.make_train(SMALL))
  a, _ = train(jax.random.key(7))
  b, _ = train(jax.random.key(7))
  c, _ = train(jax.random.key(8))
  chex.assert_trees_all_equal(a.params, b.params)
  chex.assert_trees_all_equal(a.buffer.data, b.buffer.data)
  assert not np.array_equal(a.params["params"]["Dense_0"]["kernel"],
                            c.params["params"]["Dense_0"]["kernel"])


def test_vmap_over_seeds_equals_separate_runs():
  train = dqn.make_train(SMALL)
  keys = jax.random.split(jax.random.key(0), 3)
  together, m = jax.jit(jax.vmap(train))(keys)
  for i in range(3):
    alone, m_alone = jax.jit(train)(keys[i])
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[i], together.params), alone.params,
                                rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(m["episodes"][i], m_alone["episodes"])  # the same trajectories


def test_seeds_split_over_devices_agree_with_the_single_device_run():
  """--devices: the seeds split over 2 or 4 of the suite's CPU devices, the state split between
  chunks. Every seed's episodes are those of the single-device run and its parameters agree to
  float32 rounding: XLA compiles the partitioned program with other fusions, and the last bits
  differ (as they do between a seed trained alone and inside a vmap)."""
  keys = jax.random.split(jax.random.key(0), 4)
  init = jax.vmap(lambda k: dqn.init(k, SMALL))

  def train(devices):
    state = jax.jit(run_devices.over_devices(init, devices))(keys)
    state, m1 = dqn_program.seeds_chunk(150, devices, "vmap")(state)
    state, m2 = dqn_program.seeds_chunk(150, devices, "vmap")(state)
    return state, np.asarray(m1["episodes"]) + np.asarray(m2["episodes"])

  one, episodes = train(1)
  for devices in (2, 4):
    split, split_episodes = train(devices)
    assert len(split.params["params"]["Dense_0"]["kernel"].sharding.device_set) == devices
    np.testing.assert_array_equal(split_episodes, episodes)
    chex.assert_trees_all_close(split.params, one.params, rtol=1e-5, atol=1e-6)


def _sweep_program(settings, tmp_path, name, **overrides):
  """A run's program and its state after 2 chunks (SMALL with ``overrides``; nothing written)."""
  from jaxrun import LoopConfig, run
  swept = dqn.parse_sweep(settings.sweep)
  small = {f.name: getattr(SMALL, f.name) for f in dataclasses.fields(SMALL)
           if f.name not in ("env", "total_steps", *swept)}
  r = run.Run.new(dqn_program.METHOD, str(tmp_path / name), settings=settings,
                  overrides={**small, **overrides}, loop=LoopConfig(steps=3_000, log_every=1_500))
  program = r.program()
  state = program.init()
  for _ in range(2):
    state, _ = program.make_chunk(150)(state)
  return program, state


def test_with_the_loops_layout_each_seed_is_bitwise_the_seed_trained_alone(tmp_path):
  """--seed-layout loops: each seed its own loop in the program. 2 seeds on one device, the same
  split over 2 devices, and seed 0 trained alone (--seeds 1) give the same bits, parameters and
  greedy returns, and so do a sweep's run and its standalone run; the vmapped layout gives them
  only to float32 rounding (tests above and below)."""
  def trained(name, **settings):
    program, state = _sweep_program(dqn_program.DQNSettings(seed_layout="loops", **settings),
                                    tmp_path, name)
    return state.params, program.evaluate(state, 300, episodes=2)[0]["eval_return"]

  one, one_returns = trained("one", seeds=2)
  split, split_returns = trained("split", seeds=2, devices=2)
  alone, alone_returns = trained("alone", seeds=1)
  assert len(split["params"]["Dense_0"]["kernel"].sharding.device_set) == 2
  chex.assert_trees_all_equal(split, one)
  chex.assert_trees_all_equal(alone, jax.tree.map(lambda x: x[:1], one))
  assert split_returns == one_returns and alone_returns == one_returns[:1]
  assert not np.array_equal(one["params"]["Dense_0"]["kernel"][0],
                            one["params"]["Dense_0"]["kernel"][1])  # two seeds, trained apart
  # a sweep's second configuration, with 32-unit layers (where the vmapped layout's bits part),
  # against its standalone run
  _, swept = _sweep_program(dqn_program.DQNSettings(seed_layout="loops", sweep=("gamma=0.98,0.99",)),
                            tmp_path, "sweep")
  _, standalone = _sweep_program(dqn_program.DQNSettings(seed_layout="loops"), tmp_path, "gamma",
                                 gamma=0.99)
  chex.assert_trees_all_equal(jax.tree.map(lambda x: x[1:], swept.params), standalone.params)


def test_a_sweep_run_equals_the_standalone_run_of_its_configuration_and_seed(tmp_path):
  """2 learning rates x 2 target periods x 2 seeds in one vmapped program: run c * 2 + s is
  bitwise the standalone run of configuration c, seed s (its hyperparameters are state arrays in
  both, so the sweep compiles the program a standalone run compiles, vmapped wider). Bitwise at
  these widths (8 runs against 2, 64-unit layers); XLA's CPU backend picks its kernels by the
  batch's shape, and at other widths the last bits differ (32-unit layers here; 72 runs against
  8 in benchmarks/results/scaling.md)."""
  sweep = ("learning_rate=1e-3,2.5e-4", "target_update_every=100,300")
  program, swept = _sweep_program(dqn_program.DQNSettings(seeds=2, sweep=sweep), tmp_path, "sweep",
                                  hidden=(64, 64))
  assert [combo for combo, _ in program.grid] == [
      {"learning_rate": lr, "target_update_every": t} for lr in (1e-3, 2.5e-4) for t in (100, 300)]
  assert swept.params["params"]["Dense_0"]["kernel"].shape[0] == 8
  finals = []
  for c, (combo, _) in enumerate(program.grid):
    _, alone = _sweep_program(dqn_program.DQNSettings(seeds=2), tmp_path, f"alone{c}",
                              hidden=(64, 64), **combo)
    chex.assert_trees_all_equal(jax.tree.map(lambda x: x[2 * c: 2 * c + 2], swept.params), alone.params)
    finals.append(np.asarray(alone.params["params"]["Dense_0"]["kernel"]))
  assert not np.array_equal(finals[0], finals[1])  # the configurations did train differently


def test_the_precompiled_evaluation_is_the_one_evaluate_calls(tmp_path):
  """Program.precompile compiles the evaluation on the loop's other thread; evaluate() then
  compiles nothing, and returns what it returns without the precompile."""
  from jaxrun import LoopConfig, loop, run
  small = {f.name: getattr(SMALL, f.name) for f in dataclasses.fields(SMALL)
           if f.name not in ("env", "total_steps")}
  r = run.Run.new(dqn_program.METHOD, str(tmp_path / "r"), settings=dqn_program.DQNSettings(seeds=2),
                  overrides={**small, "hidden": (24, 24)}, loop=LoopConfig(steps=3_000))
  program = r.program()
  state = program.init()
  expected = program.evaluate(state, 100)  # compiled here: the reference
  dqn_program.make_evaluate.cache_clear()  # a new jitted function: nothing compiled for it
  compiles = []

  def listener(event, *_, **__):
    if event in loop.COMPILE_EVENTS:  # tracing included: a persistent cache's hit still traces
      compiles.append(event)

  program.precompile(jax.eval_shape(lambda s: s, state))  # as the loop passes it
  jax.monitoring.register_event_time_span_listener(listener)
  try:
    assert program.evaluate(state, 100) == expected
  finally:
    jax.monitoring.unregister_event_time_span_listener(listener)
  assert compiles == []


def test_cli_sweep_reports_each_configuration(tmp_path, capsys):
  out = str(tmp_path / "sweep")
  assert cli.main(["train", "dqn", "--steps", "1000", "--seeds", "2", "--learning-starts", "500",
                   "--batch-size", "32", "--buffer-size", "1000", "--chunk-steps", "500",
                   "--sweep", "gamma=0.9,0.99", "--sweep", "tau=1,0.5", "--out", out,
                   "--no-progress"]) == 0
  capsys.readouterr()
  with open(tmp_path / "sweep" / "eval.json") as f:
    result = json.load(f)
  configs = result["configurations"]
  assert [(c["gamma"], c["tau"]) for c in configs] == [(0.9, 1.0), (0.9, 0.5), (0.99, 1.0), (0.99, 0.5)]
  for c in configs:
    assert len(c["return_per_seed"]) == 2 and c["return_aggregate"]["runs"] == 2
  assert result["best_by_iqm"]["return_aggregate"]["iqm"] == max(c["return_aggregate"]["iqm"] for c in configs)
  with open(tmp_path / "sweep" / "metrics.jsonl") as f:
    row = json.loads(f.readlines()[-1])
  assert len(row["episode_return"]) == 8 and len(row["eval_return_per_config"]) == 4
  assert cli.main(["eval", out, "--episodes", "2"]) == 0
  ev = json.loads(capsys.readouterr().out)
  assert len(ev["configurations"]) == 4 and ev["configurations"][3]["episodes_per_seed"] == 2


def test_hyperparameters_as_state_arrays_change_nothing_in_a_standalone_run():
  """A standalone run's state holds its config's hyperparameters, and a sweep of one value is it."""
  state = dqn.init(jax.random.key(0), SMALL)
  assert float(state.hyper["gamma"]) == np.float32(SMALL.gamma)
  assert int(state.hyper["epsilon_decay_steps"]) == SMALL.epsilon_decay_steps
  one = dqn.sweep_grid(SMALL, dqn.parse_sweep(["gamma=0.99"]))
  assert one == [({"gamma": 0.99}, SMALL)]


def test_more_devices_than_there_are_is_refused_with_the_flag():
  jax.devices()  # the backend is up: no CPU devices can be made any more
  settings = dqn_program.DQNSettings(seeds=1024, devices=1024)
  with pytest.raises(ValueError, match="--devices 1024 asks for more devices than the"):
    dqn_program.check(SMALL, dqn.environment(SMALL.env), settings)


def test_chunks_compute_what_one_scan_computes():
  state = dqn.init(jax.random.key(1), SMALL)
  run = jax.jit(dqn.run, static_argnums=1)
  whole, _ = run(state, 300)
  part, _ = run(state, 120)
  part, _ = run(part, 180)
  chex.assert_trees_all_equal(whole, part)


# ---- behaviour ----------------------------------------------------------------------------------


def test_cartpole_learns_within_a_small_budget():
  """CleanRL's preset on 30k steps (learning from step 1,000): the greedy policy balances the pole
  far longer than a random policy's ~22 steps."""
  c = dqn.DQNConfig.cleanrl("CartPole-v1", total_steps=30_000, learning_starts=1_000,
                            exploration_fraction=0.3)
  states, _ = jax.jit(jax.vmap(dqn.make_train(c)))(jax.random.split(jax.random.key(42), 2))
  returns = jax.jit(jax.vmap(lambda p, k: dqn.evaluate(p, c, k)["returns"]))(
      states.params, jax.random.split(jax.random.key(3), 2))
  per_seed = np.asarray(returns).mean(1)
  assert np.all(per_seed > 60), per_seed


# One classic-control and one MinAtar game besides the ones other tests train (each game a
# compilation of 10-30 s on 2 cores); `pytest -m slow` runs the rest.
_EVERY = ("Acrobot-v1", "SpaceInvaders-MinAtar")


@pytest.mark.parametrize("env", [e if e in _EVERY else pytest.param(e, marks=pytest.mark.slow)
                                 for e in envs.DQN_ENVS if e not in ("CartPole-v1", "Breakout-MinAtar")])
def test_every_dqn_environment_runs(env):
  """Classic control with the MLP, the MinAtar games with the MinAtar network (each game has its
  own number of channels and actions): a few iterations with updates, finite loss."""
  c = dqn.DQNConfig.cleanrl(env, total_steps=100, train_every=1, learning_starts=32,
                            batch_size=32, buffer_size=64)
  state, m = jax.jit(dqn.make_train(c))(jax.random.key(0))
  e = dqn.environment(env)
  assert state.buffer.data["obs"].shape == (64, *e.observation_shape)
  assert int(state.updates) == 100 - 32 + 1 and np.all(np.isfinite(m["loss"]))
  assert int(jnp.max(state.buffer.data["action"])) < e.num_actions


def test_minatar_network_trains_a_few_iterations():
  c = dqn.DQNConfig.minatar("Breakout-MinAtar", total_steps=600, learning_starts=200,
                            buffer_size=1_000)
  assert dqn.network_kind(c, dqn.environment(c.env)) == "minatar"
  state, m = jax.jit(dqn.make_train(c))(jax.random.key(0))
  assert state.buffer.data["obs"].dtype == jnp.bool_  # MinAtar's 0/1 channels stored as bool
  # An update after every step from the one that put the 200th transition in the buffer.
  assert int(state.updates) == 600 - 200 + 1 and np.all(np.isfinite(m["loss"]))


def test_cli_train_eval_resume(tmp_path, capsys):
  out = str(tmp_path / "run")
  argv = ["train", "dqn", "--env", "CartPole-v1", "--steps", "2000", "--seeds", "2",
          "--learning-starts", "500", "--batch-size", "32", "--buffer-size", "1000",
          "--chunk-steps", "1000", "--eval-every", "1000", "--out", out, "--no-progress"]
  assert cli.main(argv) == 0
  printed = capsys.readouterr()
  result = json.loads(printed.out.strip().splitlines()[-1])
  assert result["step"] == 2000 and len(result["eval"]["return_per_seed"]) == 2
  # Where the seconds went (compiling: what JAX spent compiling, which an earlier test of this
  # process may have done for the same programs; training: both chunks' steps).
  phases = result["phases"]
  assert {"set-up", "init", "compiling", "training", "evaluation", "checkpoints", "figures"} <= set(phases)
  assert min(phases.values()) >= 0
  line = printed.err.strip().splitlines()[-1]
  assert line.startswith("jaxrl: ") and "training" in line and "evaluation" in line
  assert (tmp_path / "run" / "curves.png").exists() and (tmp_path / "run" / "eval.json").exists()
  assert cli.main(argv) == 2 and "--resume" in capsys.readouterr().err
  assert cli.main(["train", "dqn", "--out", out, "--resume", "--steps", "3000", "--no-progress"]) == 0
  capsys.readouterr()
  assert cli.main(["eval", out, "--episodes", "3"]) == 0
  ev = json.loads(capsys.readouterr().out)
  assert ev["env_steps"] == 3000 and ev["episodes_per_seed"] == 3 and ev["seeds"] == 2
  # The seeds' interquartile mean and its bootstrap interval (Agarwal et al. 2021).
  agg = ev["return_aggregate"]
  assert agg["runs"] == 2 and agg["mean"] == pytest.approx(ev["return_mean"])
  assert agg["iqm_ci95"][0] <= agg["iqm"] <= agg["iqm_ci95"][1]
  # Bad input leaves the run as it is.
  config_before = open(tmp_path / "run" / "config.json").read()
  assert cli.main(["train", "dqn", "--out", out, "--resume", "--steps", "1000", "--no-progress"]) == 2
  assert "already at step 3000" in capsys.readouterr().err
  assert open(tmp_path / "run" / "config.json").read() == config_before
  assert cli.main(["eval", out, "--episodes", "0"]) == 2
  assert cli.main(["eval", out, "--step", "1500"]) == 2
  assert "no checkpoint at step 1500" in capsys.readouterr().err


def test_a_minatar_game_first_made_inside_a_trace_serves_the_next_trace():
  """MinAtar Breakout builds arrays when made; DQN's jitted init makes (and keeps) its environment
  inside the trace, so those arrays must be constants, not tracers of that trace."""
  c = dqn.DQNConfig.minatar("Breakout-MinAtar", total_steps=100, learning_starts=50, buffer_size=100)
  dqn.environment.cache_clear()
  jax.jit(lambda k: dqn.init(k, c).obs)(jax.random.key(0))
  returns = jax.jit(lambda p, k: dqn.evaluate(p, c, k, episodes=1)["returns"])(
      dqn.init(jax.random.key(0), c).params, jax.random.key(1))
  assert returns.shape == (1,)
