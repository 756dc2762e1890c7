"""jaxrl's methods on the run layer. Adding a method: one module defining ``METHOD``, one line here."""

from jaxrun import Registry

METHODS = Registry("jaxrl", {
    "dqn": ("jaxrl.dqn.program",
            "DQN with experience replay and a target network (Mnih et al. 2013, 2015)"),
}, other_tools={name: "jaxgan" for name in ("gan", "cgan", "wgan", "text-encoder", "stackgan")})
