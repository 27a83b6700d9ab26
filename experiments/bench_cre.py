"""Speed of the stochastic-electron Monte Carlo at seed 003's single point.

Realisations per second (~3.2e5 sources, 19 bins in 10^2.4-10^4.2 GeV) with the age pruning
(only sources young enough to reach an energy are evaluated there) and without it, measured
side by side in one run, plus the largest difference in psi between the two on the same keys.

    python experiments/bench_cre.py --out reports/bench_cre            # 32 realisations each
    python experiments/bench_cre.py --quick --out reports/bench_cre    # 8 realisations each
    python experiments/bench_cre.py --realisations 256 --batch 64 --out reports/bench_cre_gpu   # on a GPU

Writes DIR/bench_cre.json; the figures go to docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import jax
import numpy as np

from crinfer.simulators.cre import SINGLE_POINT, CREConfig, CRESimulator, single_point_parameters

SINGLE_POINT_ENERGIES = tuple(np.logspace(2.4, 4.2, 19))


def time_realisations(sim: CRESimulator, theta, n, batch):
    """(seconds per realisation after compilation, psi of the timed run, compile+first-run seconds)."""
    t0 = time.perf_counter()
    sim.simulate_many(0, theta, batch, batch=batch)  # compile
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    psi = sim.simulate_many(1, theta, n, batch=batch)
    return (time.perf_counter() - t0) / n, psi, first


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--quick", action="store_true", help="8 realisations per variant instead of 32")
    ap.add_argument("--batch", type=int, default=8, help="realisations per call")
    ap.add_argument("--realisations", type=int, default=None,
                    help="realisations timed per variant (default 32; 8 with --quick)")
    args = ap.parse_args(argv)
    n = args.realisations or (8 if args.quick else 32)
    if n < 1 or args.batch < 1:
        ap.error(f"--realisations {n} and --batch {args.batch} must be >= 1")
    params = single_point_parameters()
    theta = params.from_mapping(SINGLE_POINT)
    base = CREConfig(energies_GeV=SINGLE_POINT_ENERGIES, max_rate=SINGLE_POINT["R_SN"])
    rows = {}
    for name, config in (("pruned", base), ("all_sources", replace(base, prune_by_age=False))):
        sim = CRESimulator(config, params)
        seconds, psi, first = time_realisations(sim, theta, n, min(args.batch, n))
        rows[name] = {"seconds_per_realisation": seconds, "realisations_per_second": 1.0 / seconds,
                      "first_call_s": first, "psi": psi}
        print(f"{name}: {1.0 / seconds:.3f} realisations/s (first call incl. compile {first:.1f} s)", flush=True)
    summary = {
        "n_sources": int(round(SINGLE_POINT["R_SN"] * 1e4 * base.t_max_Myr)),
        "n_realisations_timed": n,
        "device": f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}",
        "machine": platform.processor() or platform.machine(),
        "speedup_pruned_vs_all": rows["all_sources"]["seconds_per_realisation"] / rows["pruned"]["seconds_per_realisation"],
        "max_abs_psi_difference": float(np.max(np.abs(rows["pruned"]["psi"] - rows["all_sources"]["psi"]))),
        **{f"{k}_{m}": v[m] for k, v in rows.items() for m in ("realisations_per_second", "first_call_s")},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_cre.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
