"""How far a trained PINN's L-BFGS loss on its own points understates its residual elsewhere.

    python experiments/pinn_collocation_gap.py emulators/pinn_d_conditional emulators/pinn_d_conditional/refine.toml
    python experiments/pinn_collocation_gap.py emulators/pinn_b_ic emulators/pinn_b_ic/recipe.toml --draws 2

For ``--draws`` keys it draws a collocation set as ``refine_lbfgs`` draws one under the recipe's
[train] settings (slices balanced on the artifact, half uniform, half RAD against it; the trainer's
own code path) and prints the L-BFGS objective there, beside the card's final loss (the objective
on the points the artifact was refined on), and the same for the uniform half alone. Then, on one
pool of 8 x 4,096 uniform points per slice, the largest scaled residuals and where they sit
(rho = r / R_h, zeta = z / z_h, x the energy coordinate). ~1 min per draw on one CPU core for (d).
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np

from crinfer.emulators.pinn.emulator import PINNEmulator
from crinfer.emulators.pinn.recipe import load_recipe, train_config
from crinfer.emulators.pinn.train import PINNTrainer, sample_points, scaled_residuals


def objectives_on_fresh_draws(emu: PINNEmulator, config, draws: int) -> list[tuple[float, float]]:
    """(objective, objective of the uniform half) on ``draws`` collocation sets drawn with seeds
    100, 101, ... as ``refine_lbfgs`` draws its set at step 0."""
    out = []
    for i in range(draws):
        trainer = PINNTrainer(emu.problem, replace(config, seed=100 + i), model=emu.model)
        pts, scales = trainer.lbfgs_collocation()
        half = pts.shape[1] // 2
        out.append((float(trainer.lbfgs_objective(emu.model, pts, scales)),
                    float(trainer.lbfgs_objective(emu.model, pts[:, :half], scales[:, :half]))))
    return out


def largest_scaled_residuals(emu: PINNEmulator, weighting: str, n: int = 8, seed: int = 11):
    """The median scaled |R| (summed over species) on a uniform pool and its ``n`` largest values
    with their (slice, rho, zeta, x)."""
    pool = sample_points(jax.random.key(seed), emu.problem, 8 * 4096, 8)
    r = np.asarray(jnp.sum(jnp.abs(scaled_residuals(emu.model, emu.problem, pool, 1.0, weighting=weighting)), axis=-1))
    pts = np.asarray(pool)
    top = [np.unravel_index(i, r.shape) for i in np.argsort(r.ravel())[-n:][::-1]]
    return float(np.median(r)), [(int(b), float(r[b, j]), *map(float, pts[b, j, :3])) for b, j in top]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifact", help="folder of a trained PINN")
    ap.add_argument("recipe", help="the recipe whose [train] settings draw the points (the artifact's own)")
    ap.add_argument("--draws", type=int, default=3, help="collocation sets to draw (>= 1)")
    args = ap.parse_args(argv)
    if args.draws < 1:
        ap.error(f"--draws {args.draws}: must be >= 1")
    emu = PINNEmulator.load(args.artifact, guard="off")
    config = train_config(load_recipe(args.recipe), quick=False)
    print(f"card final_loss (its own points): {emu.card.metrics['final_loss']:.3e}")
    for i, (whole, uniform) in enumerate(objectives_on_fresh_draws(emu, config, args.draws)):
        print(f"fresh draw {i}: objective {whole:.3e}, uniform half {uniform:.3e}", flush=True)
    median, top = largest_scaled_residuals(emu, config.lbfgs_weighting)
    print(f"scaled |R| on a uniform pool ({config.lbfgs_weighting} weighting): median {median:.2e}; largest:")
    for b, value, rho, zeta, x in top:
        print(f"  slice {b}: {value:.2e} at rho {rho:.4f}, zeta {zeta:.4f}, x {x:.4f}")


if __name__ == "__main__":
    main()
