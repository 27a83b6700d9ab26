"""Train a SECRET recipe into its artifact folder (the campaign it names must be complete).

    crinfer campaign run simulators/cre_lhs_cpu.toml         # the training set (~40 min, 1 core)
    python experiments/secret_train.py emulators/secret_cpu/recipe.toml --overwrite
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from crinfer.emulators.made_train import train_recipe


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe", type=Path)
    ap.add_argument("--out", type=Path, default=None, help="artifact folder (default: the recipe's)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing trained artifact")
    args = ap.parse_args(argv)
    emu = train_recipe(args.recipe, args.out or args.recipe.parent, overwrite=args.overwrite)
    metrics = {k: v for k, v in emu.card.metrics.items() if k != "validation_loss_history"}
    print(f"trained {emu.card.name} on {emu.card.n_train} simulations: {json.dumps(metrics)}")


if __name__ == "__main__":
    main()
