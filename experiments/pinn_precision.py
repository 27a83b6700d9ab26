"""How much float32 rounding moves a trained PINN's L-BFGS objective and gradient (lbfgs_precision).

    python experiments/pinn_precision.py emulators/pinn_c_two_species emulators/pinn_c_two_species/refine.toml --seed 2

Draws the collocation set that ``refine_lbfgs`` would draw for the artifact under the recipe's
[train] settings and ``--seed`` (the trainer's own code path), then evaluates the objective and its
gradient with the weights, points and scales in float32 and in float64, and prints both values,
their relative difference, the gradients' relative difference |g32 - g64| / |g64| and the seconds
per evaluation of each (compiled, the mean of ``--repeat``). A relative difference of the
objective as large as one L-BFGS iteration's decrease (history.csv) leaves the line search's
sufficient-decrease test to rounding. ~1 min on one CPU core for (c).
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

import jax
import jax.numpy as jnp
import optax

from crinfer.emulators.pinn.emulator import PINNEmulator
from crinfer.emulators.pinn.recipe import load_recipe, train_config
from crinfer.emulators.pinn.train import PINNTrainer, _as_float


def objective_in(trainer: PINNTrainer, pts, scales, dtype, repeat: int):
    """(objective, gradient, seconds per evaluation) of L-BFGS's objective computed in ``dtype``."""
    params, _, data, objective = trainer.lbfgs_objective_in(dtype, pts, scales)
    value_and_grad = jax.jit(jax.value_and_grad(objective))
    jax.block_until_ready(value_and_grad(params, data))
    start = time.perf_counter()
    for _ in range(repeat):
        value, grad = jax.block_until_ready(value_and_grad(params, data))
    return float(value), _as_float(grad, jnp.float64), (time.perf_counter() - start) / repeat


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifact", help="folder of a trained PINN")
    ap.add_argument("recipe", help="the recipe whose [train] settings draw the points (the artifact's refine.toml)")
    ap.add_argument("--seed", type=int, default=0, help="the collocation draw's seed (as pinn_train.py --seed)")
    ap.add_argument("--repeat", type=int, default=3, help="timed evaluations per precision (>= 1)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error(f"--repeat {args.repeat}: must be >= 1")
    emu = PINNEmulator.load(args.artifact, guard="off")
    config = replace(train_config(load_recipe(args.recipe), quick=False), seed=args.seed)
    trainer = PINNTrainer(emu.problem, config, model=emu.model)
    pts, scales = trainer.lbfgs_collocation()
    v32, g32, t32 = objective_in(trainer, pts, scales, jnp.float32, args.repeat)
    v64, g64, t64 = objective_in(trainer, pts, scales, jnp.float64, args.repeat)
    gap = optax.tree.norm(jax.tree.map(jnp.subtract, g32, g64)) / optax.tree.norm(g64)
    print(f"objective: float32 {v32:.6e}, float64 {v64:.6e}, relative difference {abs(v32 / v64 - 1):.2e}")
    print(f"gradient: |g64| {float(optax.tree.norm(g64)):.3e}, |g32 - g64| / |g64| {float(gap):.2e}")
    print(f"seconds per evaluation: float32 {t32:.2f}, float64 {t64:.2f} ({t64 / t32:.2f}x)")


if __name__ == "__main__":
    main()
