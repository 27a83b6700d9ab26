"""How well does a polynomial in theta alone carry SECRET's median spectrum? A check for the
per-theta trend's degree (the recipes' ``location_degree``), with no network trained.

    python experiments/secret_trend_degree.py --campaign simulators/cre_lhs_gpu.toml \
        --heldout-sims campaigns/secret_heldout_32x1000.npz

For each degree, a least-squares polynomial in standardised theta is fitted to the per-point
median of log10 psi over the campaigns' realisations, and scored like secret_eval.py's dq50:
the max over energy bins of |polynomial - held-out median| at every held-out point [dex]. The
training medians carry Monte Carlo noise (~1.25 sd / sqrt(realisations per point)), which the
fit averages over points.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from crinfer.campaign.recipe import load_recipe
from crinfer.campaign.runner import load_dataset
from crinfer.emulators import made_jax
from crinfer.emulators.validation import load_heldout


def point_medians(recipe_paths):
    """(theta (points, P), median of x over each point's realisations (points, D)) of the campaigns."""
    thetas, medians = [], []
    for path in recipe_paths:
        campaign = load_recipe(path)
        theta, x, _ = load_dataset(campaign.store)
        r = campaign.realisations
        thetas.append(theta[::r])
        medians.append(np.median(x.reshape(len(x) // r, r, -1), axis=1))
    return np.concatenate(thetas), np.concatenate(medians)


def score_degrees(theta, median, heldout_theta, heldout_median, degrees):
    """{degree: {terms, frac_below_0p05, frac_below_0p1, median_dev, worst_dev}} of the max-over-bins
    deviation of the fitted polynomial from the held-out medians [dex]."""
    mean, sd = theta.mean(0), theta.std(0)
    scores = {}
    for degree in degrees:
        features = lambda t: np.asarray(made_jax.polynomial_features((t - mean) / sd, degree))  # noqa: E731
        coef = np.linalg.lstsq(features(theta), median, rcond=None)[0]
        dev = np.abs(features(heldout_theta) @ coef - heldout_median).max(axis=1)
        scores[degree] = {"terms": coef.shape[0], "frac_below_0p05": float(np.mean(dev < 0.05)),
                          "frac_below_0p1": float(np.mean(dev < 0.1)), "median_dev": float(np.median(dev)),
                          "worst_dev": float(dev.max())}
    return scores


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--campaign", type=Path, action="append", required=True,
                    help="campaign recipe whose complete store is the training set (repeat to concatenate)")
    ap.add_argument("--heldout-sims", type=Path, required=True, help="secret_eval.py's stored held-out Monte Carlo")
    ap.add_argument("--degrees", type=int, nargs="+", default=[2, 3, 4, 5, 6])
    args = ap.parse_args(argv)
    theta, median = point_medians(args.campaign)
    held_theta, held_sims, _ = load_heldout(args.heldout_sims)
    held_median = np.stack([np.median(x, axis=0) for x in held_sims])
    scores = score_degrees(theta, median, held_theta, held_median, args.degrees)
    print(f"{len(theta)} training points, {len(held_theta)} held-out points")
    print(json.dumps(scores, indent=1))


if __name__ == "__main__":
    main()
