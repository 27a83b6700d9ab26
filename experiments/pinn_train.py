"""Train a PINN recipe into its artifact folder (resumes from checkpoints).

    python experiments/pinn_train.py emulators/pinn_a_diffusion/recipe.toml
    python experiments/pinn_train.py emulators/pinn_b_ic/recipe.toml --seconds 1500 --overwrite
    python experiments/pinn_train.py emulators/pinn_a_diffusion/recipe.toml --quick --out /tmp/pinn_a
    python experiments/pinn_train.py RECIPE --out DIR --fit-seconds 240    # the schedule fitted to 4 min of Adam
    python experiments/pinn_train.py emulators/pinn_d_conditional/refine.toml --overwrite --seed 4   # a refinement round

The artifact goes to the recipe's folder unless --out is given; --seconds stops after the first
checkpoint past that wall time (device sessions have a budget), and a later run resumes; the
L-BFGS phase (no checkpoints) starts only with time left and stops after the iteration past it;
--fit-seconds times the Adam step first and stretches the recipe's schedule (steps and
learning-rate decay) to that many seconds (DIR/fitted_schedule.json records it).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from crinfer.emulators.pinn.recipe import train_recipe


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe", type=Path)
    ap.add_argument("--out", type=Path, default=None, help="artifact folder (default: the recipe's)")
    ap.add_argument("--quick", action="store_true", help="the recipe's CPU-sized [train.quick] variant")
    ap.add_argument("--seconds", type=float, default=None,
                    help="stop after a checkpoint (or L-BFGS iteration) past this wall time")
    ap.add_argument("--fit-seconds", type=float, default=None,
                    help="run as many Adam steps as fit in this wall time, the recipe's decay stretched over them")
    ap.add_argument("--seed", type=int, default=None,
                    help="in place of the recipe's [train] seed (a new one for each round of an in-place refinement)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing trained artifact")
    args = ap.parse_args(argv)
    emu = train_recipe(args.recipe, args.out or args.recipe.parent, quick=args.quick,
                       overwrite=args.overwrite, seconds=args.seconds, seed=args.seed,
                       fit_seconds=args.fit_seconds)
    print(f"trained {emu.card.name}: {emu.card.metrics}")


if __name__ == "__main__":
    main()
