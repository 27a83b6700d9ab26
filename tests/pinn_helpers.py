"""Shared pieces of the PINN tests: a tiny architecture, a constant stand-in network, collocation
rows and an untrained emulator."""
import jax
import jax.numpy as jnp
import numpy as np

from crinfer.emulators.artifact import ModelCard
from crinfer.emulators.pinn.emulator import PINNEmulator
from crinfer.emulators.pinn.networks import architecture
from crinfer.emulators.pinn.train import new_model

TINY = dict(width=16, depth=1, n_radial=4, n_vertical=8, n_fourier=4, spec_width=8, spec_depth=1)


class ConstantN:
    """A stand-in network with log N = ln c: u = c (1 - rho^2) sigma(zeta) e(x)."""

    def __init__(self, c):
        self.c = c

    def __call__(self, rho, zeta, x, a):
        return jnp.log(self.c) + 0.0 * rho


def points(n, seed=0, n_params=0):
    """n rows (rho, zeta, x, a_1..a_P) inside the domain, away from its boundaries."""
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(0.05, 0.95, n), rng.uniform(0.0, 0.95, n), rng.uniform(-1, 1, n),
                            rng.uniform(-1, 1, (n, n_params))])


def tiny_emulator(pb, seed=0):
    """An untrained TINY emulator of problem ``pb`` (key ``seed``)."""
    arch = architecture(**TINY, log_scale0=-6.0)
    model = new_model(pb, arch, jax.random.key(seed))
    card = ModelCard(name="tiny", kind="pinn", dataset_hash="-", n_train=0, n_validation=0,
                     training_domain={n: list(b) for n, b in pb.ranges.items()})
    return PINNEmulator(pb, model, arch, card)
