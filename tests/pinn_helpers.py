"""Shared pieces of the PINN tests: a tiny architecture, a constant stand-in network, collocation
rows and an untrained emulator; a tiny recipe and a recorder of its L-BFGS phases."""
import jax
import jax.numpy as jnp
import numpy as np

from crinfer.emulators.artifact import ModelCard
from crinfer.emulators.pinn.emulator import PINNEmulator
from crinfer.emulators.pinn.networks import architecture
from crinfer.emulators.pinn.train import PINNTrainer, _bin_losses, new_model

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


def tiny_recipe(folder):
    """Write folder/recipe.toml: a TINY diffusion-only recipe of 20 Adam steps and 5 L-BFGS
    iterations on 128 points in 4 energy slices; returns its path."""
    recipe = folder / "recipe.toml"
    arch = "\n".join(f"{k} = {v}" for k, v in TINY.items())
    recipe.write_text(f"""name = "tiny"\n[problem]\nlosses = "none"\n[architecture]\n{arch}
[train]\nsteps = 20\nbatch = 64\nenergy_bins = 4\ncheckpoint_every = 10\nlbfgs_steps = 5\nlbfgs_points = 128\n""")
    return recipe


def record_lbfgs_draws(monkeypatch) -> list:
    """A list to which every L-BFGS phase run after this call appends the model it started
    from, its points, scales and slice weights (PINNTrainer.lbfgs_collocation, recorded)."""
    drawn, draw = [], PINNTrainer.lbfgs_collocation

    def recorded(trainer, n_points=None):
        pts, scales = draw(trainer, n_points)
        drawn.append(dict(model=trainer.model, problem=trainer.problem, pts=pts, scales=scales,
                          weights=trainer.weights))
        return pts, scales

    monkeypatch.setattr(PINNTrainer, "lbfgs_collocation", recorded)
    return drawn


def lbfgs_objective(run: dict, model) -> float:
    """The objective of a recorded L-BFGS phase ``run`` (record_lbfgs_draws) at ``model``."""
    return float(jnp.sum(run["weights"] * _bin_losses(model, run["problem"], run["pts"], 1.0, run["scales"])))
