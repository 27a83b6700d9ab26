"""Add Monte Carlo realisations to the held-out points of secret_eval.py whose own noise is large,
so that dq50 measures the emulator rather than the held-out set's sampling error.

    python experiments/secret_heldout_deepen.py campaigns/secret_heldout_32x1000.npz \\
        campaigns/secret_heldout_32_deep.npz --target-floor 0.025 --max-realisations 10000

At each point the noise floor (the median max-over-bins |dQ50| an exact emulator would score,
crinfer.emulators.validation.quantile_noise_floor, against 4 x as many emulator draws) is
estimated from the realisations there; it falls as 1 / sqrt(realisations), so a point above
--target-floor [dex] gets realisations up to M (floor / target)^2, rounded up to a thousand and
capped at --max-realisations. New draws use keys folded from --key, the point's index and its
current count, never the held-out set's own. The input is kept; the output is a new file.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import jax
import numpy as np

from crinfer.emulators.validation import EMULATED_PER_HELDOUT, load_heldout, quantile_noise_floor, save_heldout
from crinfer.simulators.cre import PARAMETERS, CREConfig, CRESimulator

def realisations_needed(sims, target_floor, cap, seed):
    """(noise floor now [dex], realisations that bring it to target_floor, at least the current count)."""
    floor = float(np.median(quantile_noise_floor(sims, EMULATED_PER_HELDOUT * len(sims), 0.5, seed=seed)))
    wanted = math.ceil(len(sims) * (floor / target_floor) ** 2 / 1000) * 1000
    return floor, max(len(sims), min(wanted, cap))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("heldout", type=Path, help="secret_eval.py's held-out NPZ (--heldout-sims)")
    ap.add_argument("out", type=Path, help="new NPZ with the deepened set")
    ap.add_argument("--target-floor", type=float, default=0.025, help="noise floor to reach at every point [dex]")
    ap.add_argument("--max-realisations", type=int, default=10_000, help="cap per point")
    ap.add_argument("--key", type=int, default=0)
    args = ap.parse_args(argv)
    if args.target_floor <= 0:
        ap.error(f"--target-floor {args.target_floor}: must be > 0 dex")
    if args.out.exists():
        ap.error(f"{args.out} exists; give a new path (nothing is overwritten)")
    theta, sims, n_offset = load_heldout(args.heldout)
    sim = CRESimulator(CREConfig(), PARAMETERS)
    deepened, floors = [], []
    for i, (row, x) in enumerate(zip(theta, sims)):
        floor, n = realisations_needed(x, args.target_floor, args.max_realisations, seed=args.key + i)
        if n > len(x):
            key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(args.key), i), len(x))
            print(f"point {i}: noise floor {floor:.3f} dex at {len(x)} realisations; adding {n - len(x)}")
            x = np.concatenate([x, sim.simulate_many(key, row, n - len(x), batch=64, progress=True)])
            floor = float(np.median(quantile_noise_floor(x, EMULATED_PER_HELDOUT * len(x), 0.5, seed=args.key + i)))
        deepened.append(x)
        floors.append(floor)
    save_heldout(args.out, theta, deepened, n_offset)
    print(f"wrote {args.out}: {sum(map(len, deepened))} realisations; noise floor now max {max(floors):.3f} dex")
    return deepened


if __name__ == "__main__":
    main()
