"""CPU time, wall time and memory of the transport solver on DRAGON2's problems (a), (b), (c).

    OMP_NUM_THREADS=1 python experiments/bench_transport.py [--grids base,x2,x4] [--cases abc]
                                                            [--repeat 3] [--json FILE]

For each case and grid: build the problem from simulators/transport_dragon2_<case>.toml (with the
grid changed), then solve it. Reports the CPU time (time.process_time) and wall time of
setup + solve and of the solve alone (best of --repeat; the first call also pays JAX's compilation of
the physics functions for a new array shape, reported as cpu_total_first_call_s), the peak of traced allocations
(tracemalloc: numpy arrays and Python objects, the solver's own working memory) and the
process's peak RSS (resource.getrusage, which includes the interpreter, numpy/scipy/jax imports).
Beside it: DRAGON2's user CPU time, wall time and peak RSS for the same grid
(crinfer/data/files/peers/dragon2_timings.csv; 2 OpenMP threads, 240 pseudo-time iterations),
and the ratios DRAGON2 / ours. Run on one core: set OMP_NUM_THREADS=1.
"""
from __future__ import annotations

import argparse
import gc
import json
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# DRAGON2's grids (peers README section 2): (n_r, n_z, E ratio, n_E); (b) x2 runs to the same top
# node 1092 GeV with 103 nodes, (a)/(c) x2 to 998 GeV with 102.
GRIDS = {
    "base": {"a": (41, 81, 1.2, 52), "b": (41, 81, 1.2, 52), "c": (41, 81, 1.2, 52)},
    "x2": {"a": (81, 161, 1.2**0.5, 102), "b": (81, 161, 1.2**0.5, 103), "c": (81, 161, 1.2**0.5, 102)},
    "x4": {"a": (161, 321, 1.2**0.25, 203), "b": (161, 321, 1.2**0.25, 203), "c": (161, 321, 1.2**0.25, 203)},
}
# rows of dragon2_timings.csv with the same cells (quiet-machine repeats t_* where they exist)
DRAGON_RUN = {("base", "a"): "t_a_base", ("base", "b"): "t_b_base", ("base", "c"): "t_c_base",
              ("x2", "a"): "t_a_x2", ("x2", "b"): "t_b_x2", ("x2", "c"): "t_c_x2", ("x4", "a"): "a_x4"}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_one(case: str, grid_name: str, repeat: int) -> dict:
    from crinfer.simulators.transport import TransportConfig, solve

    n_r, n_z, f, n_E = GRIDS[grid_name][case]
    cfg = TransportConfig.from_toml(ROOT / "simulators" / f"transport_dragon2_{case}.toml").updated(
        {"grid.n_r": n_r, "grid.n_z": n_z, "grid.E_factor": f, "grid.n_E": n_E})
    best, cold = None, None
    for _ in range(repeat):
        gc.collect()
        tracemalloc.start()
        c0, w0 = time.process_time(), time.perf_counter()
        grid = cfg.build_grid()
        problems = cfg.build_problems(grid)
        c1, w1 = time.process_time(), time.perf_counter()
        res = solve(grid, problems, cfg.observer, **cfg.solver_options)
        c2, w2 = time.process_time(), time.perf_counter()
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        row = {"case": case, "grid": grid_name, "shape": f"{n_r}x{n_z}x{n_E}", "cells": grid.n_cells,
               "cpu_total_s": c2 - c0, "wall_total_s": w2 - w0, "cpu_solve_s": c2 - c1, "wall_solve_s": w2 - w1,
               "traced_peak_MB": peak, "backend": res.info[res.species[0]]["backend"],
               "psi_sun_mid": float(res.sun_spectrum(res.species[0])[n_E // 2])}
        if cold is None:
            cold = row["cpu_total_s"]
        if best is None or row["cpu_total_s"] < best["cpu_total_s"]:
            best = row
        del res, problems
    best["cpu_total_first_call_s"] = cold     # includes JAX compiling the physics for a new grid shape
    best["process_peak_rss_MB"] = peak_rss_mb()
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grids", default="base,x2", help="comma list of base, x2, x4")
    ap.add_argument("--cases", default="abc")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from crinfer.simulators.transport import dragon2

    dragon = {row["run"]: row for row in dragon2.timings()}
    rss0 = peak_rss_mb()
    rows = []
    print(f"process peak RSS after imports: {rss0:.0f} MB")
    hdr = (f"{'case':4} {'grid':5} {'cells':>10} | {'ours CPU':>9} {'solve CPU':>9} {'wall':>7} {'traced':>7} "
           f"{'RSS':>6} | {'D2 CPU':>7} {'D2 wall':>7} {'D2 RSS':>7} | {'CPU ratio':>9} {'solve':>7} {'mem ratio':>9}")
    print(hdr)
    for grid_name in args.grids.split(","):
        for case in args.cases:
            row = bench_one(case, grid_name, args.repeat)
            d = dragon.get(DRAGON_RUN.get((grid_name, case), ""), None)
            if d is not None:
                row.update(dragon2_run=d["run"], dragon2_cells=int(d["cells"]), dragon2_user_cpu_s=d["user_cpu_s"],
                           dragon2_wall_s=d["wall_s"], dragon2_peak_rss_MB=d["max_rss_MB"],
                           cpu_ratio=d["user_cpu_s"] / row["cpu_total_s"],
                           cpu_ratio_solve_only=d["user_cpu_s"] / row["cpu_solve_s"],
                           traced_mem_ratio=d["max_rss_MB"] / row["traced_peak_MB"])
            rows.append(row)
            fmt = lambda k, spec: format(row[k], spec) if k in row else "-"  # noqa: E731
            print(f"{case:4} {grid_name:5} {row['cells']:>10} | {row['cpu_total_s']:9.3f} {row['cpu_solve_s']:9.3f} "
                  f"{row['wall_total_s']:7.3f} {row['traced_peak_MB']:7.1f} {row['process_peak_rss_MB']:6.0f} | "
                  f"{fmt('dragon2_user_cpu_s', '7.2f')} {fmt('dragon2_wall_s', '7.2f')} "
                  f"{fmt('dragon2_peak_rss_MB', '7.0f')} | {fmt('cpu_ratio', '9.1f')} {fmt('cpu_ratio_solve_only', '7.1f')} "
                  f"{fmt('traced_mem_ratio', '9.2f')}",
                  flush=True)
    out = {"rss_after_imports_MB": rss0, "rows": rows,
           "note": "ours: one core (OMP_NUM_THREADS=1), best of --repeat; DRAGON2: 2 OpenMP threads, user CPU"}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
