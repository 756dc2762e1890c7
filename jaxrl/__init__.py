"""jaxrl: deep Q-learning in JAX (see the open issues for the DQN work)."""
