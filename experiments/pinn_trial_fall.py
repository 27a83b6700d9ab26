"""How much of psi's vertical fall each trial function of a PINN leaves to the network.

    python experiments/pinn_trial_fall.py            # recipe (b)'s problem, about 30 s on a CPU core

For the problem of recipe (b) (electrons, KN inverse Compton on the CMB, fiducial parameters) it
prints, per energy and radius, the spread over heights 0..0.95 z_h of ln(psi_exact / trial) [e-folds]:
what the network must learn in z on top of each trial ("slab", "loss_length_z", "exact_z";
docs/pinn.md). psi_exact is the reference series (crinfer.emulators.pinn.reference).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from crinfer.emulators.pinn.problem import TRIALS, PINNProblem
from crinfer.emulators.pinn.reference import reference_psi

ENERGIES = (3e2, 3e3, 3e4, 3e5)     # GeV
RADII = (0.0, 8.5, 15.0, 19.0)      # kpc


def main():
    base = PINNProblem(losses="ic_cmb")
    with jax.enable_x64(True):
        v = base.values(np.zeros(0))
        z = np.linspace(0.0, 0.95, 11) * v["z_h"]
        print(f"{'E [GeV]':>9} {'r [kpc]':>8} " + " ".join(f"{t:>14}" for t in TRIALS))
        for E in ENERGIES:
            ref = reference_psi(base, (), RADII, z, np.array([E]))[:, :, 0]
            for i, r in enumerate(RADII):
                args = (jnp.float64(r / base.R_h), jnp.asarray(z / v["z_h"]), jnp.log(jnp.float64(E)), v)
                spread = [np.ptp(np.log(ref[i] / np.asarray(dataclasses.replace(base, trial=t).hard_factor(*args))))
                          for t in TRIALS]
                print(f"{E:9.0e} {r:8.1f} " + " ".join(f"{s:14.3f}" for s in spread))


if __name__ == "__main__":
    main()
