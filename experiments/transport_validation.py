"""Validation of the steady-state transport solver (crinfer issue 3; docs/transport.md).

    python experiments/transport_validation.py --quick --out DIR    # a few minutes on one core
    python experiments/transport_validation.py --out DIR            # adds finer grids

Writes DIR/summary.json and DIR/report.md with plots. Checks:

1. Bessel: diffusion only, thin-disc source 2 h q(r) delta(z), homogeneous D, against the exact
   Bessel series (PHYSICS.md section 1): max relative error over every unknown node on DRAGON2's
   base grid (41 x 81) and 2x grid (81 x 161); order = log2 of the ratio of the two.
2. Syrovatskii: diffusion D(E) + Thomson IC losses b = b0 E^2 on the CMB, separable source, against
   the semi-analytic Bessel-Fourier-Syrovatskii series over 0.1 GeV - 1e6 GeV (1e2 - 1e9 MeV) at
   the Sun and over the grid, versus the log-energy step.
3. DRAGON2 problems a, b, c (simulators/transport_dragon2_*.toml): our Sun spectrum against
   DRAGON2's stored output, and against DRAGON2's own discretisation solved directly
   (crinfer.simulators.transport.dragon2), with and without its axis stencil.

The library does the work; this script only drives it and writes the numbers.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
R_H, Z_H = 20.0, 4.0
SUN = (8.5, 0.0)


# ---------------------------------------------------------------------------- 1. Bessel
def bessel_check(grids, D=0.1):
    from crinfer.simulators.transport import SpeciesProblem, TransportGrid, solve
    from crinfer.simulators.transport.analytic import bessel_thin_disc

    def q_radial(r):
        return np.exp(-((np.asarray(r) / 5.0) ** 2))

    rows = []
    for n_r, n_z in grids:
        g = TransportGrid(R_H, Z_H, n_r, n_z, [1.0, 2.0, 4.0])
        S = np.zeros((n_r, n_z))
        S[:, (n_z - 1) // 2] = 2.0 * q_radial(g.r) / g.dz      # Q = 2 h q(r) delta(z), h = 1
        psi = solve(g, SpeciesProblem("x", np.full(3, D), S, np.ones(3)))["x"][:, :, 0]
        exact = bessel_thin_disc(g.r, g.z, q_radial, D, R_H, Z_H)
        rel = psi[:-1, 1:-1] / exact[:-1, 1:-1] - 1.0              # every unknown node
        i_sun, j0 = int(round(SUN[0] / g.dr)), (n_z - 1) // 2
        rows.append({"grid": f"{n_r}x{n_z}", "dr": g.dr, "dz": g.dz,
                     "max_rel_err": float(np.max(np.abs(rel))),
                     "rel_err_sun": float(psi[i_sun, j0] / exact[i_sun, j0] - 1.0)})
    for a, b in zip(rows[:-1], rows[1:]):
        b["order"] = float(np.log(a["max_rel_err"] / b["max_rel_err"]) / np.log(a["dr"] / b["dr"]))
    return rows


# ---------------------------------------------------------------------------- 2. Syrovatskii
def syrovatskii_setup():
    """Problem (b)'s D(p) and injection, Thomson loss on the CMB, a smooth separable source."""
    from crinfer.physics import constants as C
    from crinfer.physics import losses as L

    b0 = float(L.ic_loss_thomson(1.0, C.A_RAD_EV_CM3_K4 * C.T_CMB_K**4))   # GeV/Myr at 1 GeV

    def b(E):
        return b0 * np.asarray(E) ** 2

    def D(E):
        return 0.1325752 * (np.asarray(E) / 4.0) ** 0.33

    def Q(E):
        E = np.asarray(E)
        return np.where(E <= 4.0, (E / 4.0) ** -1.6, (E / 4.0) ** -2.5)

    def f(r):   # Galprop-type profile with alpha = 2 (smooth on the axis), tapered to 0 at R_h
        r = np.asarray(r)
        return (r / 8.5) ** 2 * np.exp(-3.56 * (r - 8.5) / 8.5) * np.clip(1.0 - (r / R_H) ** 2, 0.0, None)

    def g(z):
        return np.exp(-((np.asarray(z) / 0.2) ** 2))

    return dict(b=b, D=D, Q=Q, f=f, g=g, b0=b0)


def syrovatskii_check(n_r, n_z, factors, E_top=1e8, E_lo=0.1, E_hi=1e6, n_bessel=80, n_sine=400):
    from crinfer.simulators.transport import SpeciesProblem, TransportGrid, solve
    from crinfer.simulators.transport.analytic import losses_series

    s = syrovatskii_setup()
    rows, curves = [], {}
    for f in factors:
        n_E = int(round(np.log(E_top / E_lo) / np.log(f))) + 1
        grid = TransportGrid.logarithmic(R_H, Z_H, n_r, n_z, E_lo, n_E, factor=f)
        E = grid.energies
        S = s["f"](grid.r)[:, None] * s["g"](grid.z)[None, :]
        prob = SpeciesProblem("e", s["D"](E), S, s["Q"](E), loss_rate=s["b"](E))
        t0 = time.process_time()
        res = solve(grid, prob)
        cpu = time.process_time() - t0
        sel = E <= E_hi * (1 + 1e-9)
        E_max = grid.E_faces[-1]                    # nothing is injected above the top face
        exact_sun = losses_series([SUN[0]], [SUN[1]], E[sel], f=s["f"], g=s["g"], Q=s["Q"], D=s["D"],
                                  b=s["b"], R_h=R_H, z_h=Z_H, E_max=E_max, n_bessel=n_bessel,
                                  n_sine=n_sine)[0, 0]
        rel_sun = res.sun_spectrum("e")[sel] / exact_sun - 1.0
        # over the grid: every 4th r node and every 4th z node inside |z| <= 2 kpc, 5 energies
        ri = np.arange(0, n_r - 1, 4)
        zj = np.array([j for j in range(0, n_z, 4) if abs(grid.z[j]) <= 2.0])
        ek = np.unique(np.searchsorted(E, np.geomspace(E_lo, E_hi, 5)).clip(0, sel.sum() - 1))
        exact_grid = losses_series(grid.r[ri], grid.z[zj], E[ek], f=s["f"], g=s["g"], Q=s["Q"], D=s["D"],
                                   b=s["b"], R_h=R_H, z_h=Z_H, E_max=E_max, n_bessel=n_bessel,
                                   n_sine=n_sine)
        ours = res["e"][np.ix_(ri, zj, ek)]
        big = exact_grid > 1e-3 * exact_grid.max(axis=(0, 1), keepdims=True)   # where psi matters
        rel_all = np.where(big, np.abs(ours / np.where(big, exact_grid, 1.0) - 1.0), 0.0)
        worst = np.unravel_index(int(np.argmax(rel_all)), rel_all.shape)
        rows.append({"grid": f"{n_r}x{n_z}x{n_E}", "E_factor": f, "solve_cpu_s": cpu,
                     "max_rel_err_sun": float(np.max(np.abs(rel_sun))),
                     "max_rel_err_grid": float(rel_all.max()),
                     "max_rel_err_grid_at_r_z_E": [float(grid.r[ri[worst[0]]]), float(grid.z[zj[worst[1]]]),
                                                   float(E[ek[worst[2]]])],
                     "max_rel_err_grid_per_E": {f"{E[k]:.4g}": float(rel_all[:, :, n].max()) for n, k in enumerate(ek)}})
        curves[f] = (E[sel], rel_sun)
    return rows, curves


# ---------------------------------------------------------------------------- 3. DRAGON2
def dragon2_check(case):
    from crinfer.simulators.transport import TransportConfig, solve
    from crinfer.simulators.transport import dragon2

    run = dragon2.reference_runs()[f"{case}_base"]
    cfg = TransportConfig.from_toml(ROOT / "simulators" / f"transport_dragon2_{case}.toml")
    grid = cfg.build_grid()
    (prob,) = cfg.build_problems(grid)
    res = solve(grid, [prob], cfg.observer, **cfg.solver_options)
    name = res.species[0]
    E = grid.energies
    assert np.allclose(E, run["Ek_GeV"], rtol=1e-6), "energy grids differ"
    ours = res.sun_spectrum(name)
    ref = np.asarray(run["density_sun"], dtype=float)
    i_sun = int(round(SUN[0] / grid.dr))
    j_sun = (grid.n_z - 1) // 2
    direct = {}
    for quirk in (True, False):
        N = dragon2.dragon_steady_state(grid.r, grid.z, run["p_GeV"], run["D_kpc2_per_Myr"],
                                        run["q_spectral"], dragon2.galprop_source(grid.r, grid.z),
                                        run.get("dpdt_GeV_per_Myr"), axis_quirk=quirk)
        direct["dragonstencil" if quirk else "textbook"] = N[i_sun, j_sun]
    out = {}
    if case == "b":   # DRAGON2's finest log-E run (step 1.2^(1/8), same top node): every 8th node is ours
        runs = dragon2.reference_runs()
        e8 = runs["b_e8"]
        idx = np.searchsorted(e8["Ek_GeV"], E * (1 - 1e-9))
        out["ours_over_dragon2_e8"] = ours / np.asarray(e8["density_sun"], dtype=float)[idx]
        out["dragon2_base_over_e8"] = ref / np.asarray(e8["density_sun"], dtype=float)[idx]
        fine = cfg.updated({"grid.n_E": 205, "grid.E_factor": 1.2**0.25})
        fgrid = fine.build_grid()
        res_f = solve(fgrid, fine.build_problems(fgrid), fine.observer, **fine.solver_options)
        out["ours_over_ours_e4"] = ours / res_f.sun_spectrum(name)[::4]
        out["ours_over_ours_e4_below_top2"] = out["ours_over_ours_e4"][:-2]
    out |= {
        "ours_over_dragon2": ours / ref,
        "dragon2_over_stencil": ref / direct["dragonstencil"],
        "ours_over_stencil": ours / direct["dragonstencil"],
        "ours_over_textbook_stencil": ours / direct["textbook"],
    }
    return E, out


# ---------------------------------------------------------------------------- driver
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--quick", action="store_true", help="DRAGON2 base and 2x grids only (a few minutes)")
    args = ap.parse_args(argv)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t_start = time.perf_counter()
    summary = {"mode": "quick" if args.quick else "full", "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:])}
    md = ["# Transport solver validation", "",
          f"Command: `python experiments/transport_validation.py {'--quick ' if args.quick else ''}--out {out}`", ""]

    # 1. Bessel
    grids = [(41, 81), (81, 161)] + ([] if args.quick else [(161, 321)])
    brows = bessel_check(grids)
    two_x = next(r for r in brows if r["grid"] == "81x161")
    summary["bessel"] = brows
    summary["bessel_max_rel_err"] = two_x["max_rel_err"]
    summary["bessel_order"] = two_x["order"]
    md += ["## 1. Thin disc, diffusion only, against the exact Bessel series", "",
           "Q = 2 q(r) delta(z), q = exp(-(r/5 kpc)^2), D = 0.1 kpc^2/Myr, R_h = 20, z_h = 4 kpc; "
           "error over every unknown node (all but the psi = 0 boundary).", "",
           "| grid | dr [kpc] | dz [kpc] | max rel err | rel err at Sun | order |", "| --- | --- | --- | --- | --- | --- |"]
    md += [f"| {r['grid']} | {r['dr']:.3g} | {r['dz']:.3g} | {r['max_rel_err']:.3e} | {r['rel_err_sun']:.2e} | "
           f"{r.get('order', float('nan')):.3f} |" for r in brows]
    md += ["", f"Acceptance: max rel err <= 1e-3 on the 81x161 grid (DRAGON2's 2x grid): "
               f"{two_x['max_rel_err']:.3e}; order >= 1.9: {two_x['order']:.3f}.", ""]
    print(f"bessel: {brows}", flush=True)

    # 2. Syrovatskii
    factors = [1.2, 1.2**0.5, 1.2**0.25] + ([] if args.quick else [1.2**0.125])
    srows, curves = syrovatskii_check(81, 161, factors)
    summary["syrovatskii"] = srows
    summary["syrovatskii_max_rel_err_sun"] = min(r["max_rel_err_sun"] for r in srows)
    best = min(srows, key=lambda r: r["max_rel_err_sun"])
    summary["syrovatskii_grid"] = best["grid"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for f, (E, rel) in curves.items():
        ax.semilogx(E, rel, label=f"E ratio {f:.4f}")
    ax.axhspan(-0.01, 0.01, color="0.9")
    ax.set_xlabel("E [GeV]")
    ax.set_ylabel("ours / semi-analytic - 1 (Sun)")
    ax.legend()
    fig.savefig(out / "syrovatskii_sun.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    md += ["## 2. Diffusion + Thomson IC losses against the semi-analytic (Syrovatskii) series", "",
           "D = 0.1326 (E/4 GeV)^0.33 kpc^2/Myr, b = b0 E^2 (Thomson, CMB, "
           f"b0 = {syrovatskii_setup()['b0']:.4e} GeV/Myr), q(E) broken power law (1.6 / 2.5 at 4 GeV), "
           "S = (r/8.5)^2 exp(-3.56 (r-8.5)/8.5) (1 - (r/20)^2) exp(-(z/0.2)^2) (smooth, so that the comparison over the grid "
           "is not dominated by an unresolved source shape where the diffusion length falls below the grid step); grid 0.1 GeV - 1e8 GeV, "
           "compared over 0.1 - 1e6 GeV (1e2 - 1e9 MeV); series with 80 x 400 modes; "
           "'grid' = max over r, |z| <= 2 kpc and 5 energies where psi > 1e-3 of its maximum.", "",
           "| grid | E ratio | solve CPU [s] | max rel err at Sun | max rel err over grid |",
           "| --- | --- | --- | --- | --- |"]
    md += [f"| {r['grid']} | {r['E_factor']:.5f} | {r['solve_cpu_s']:.2f} | {r['max_rel_err_sun']:.2e} | "
           f"{r['max_rel_err_grid']:.2e} |" for r in srows]
    md += ["", "![Syrovatskii](syrovatskii_sun.png)", ""]
    print(f"syrovatskii: {srows}", flush=True)

    # 3. DRAGON2
    md += ["## 3. DRAGON2 problems a, b, c (base grid 41 x 81 x 52)", "",
           "Ratios at the Sun; 'stencil' = DRAGON2's discretisation (axis rows and first-order upwind "
           "losses) solved directly to its steady state; 'textbook stencil' = the same with the standard "
           "axis row.", "",
           "| case | max abs(ours/DRAGON2 - 1) | DRAGON2/stencil | ours/stencil | ours/textbook stencil |",
           "| --- | --- | --- | --- | --- |"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for case in "abc":
        E, ratios = dragon2_check(case)
        d = ratios["ours_over_dragon2"] - 1.0
        summary[f"dragon2_sun_rel_diff_{case}"] = float(np.max(np.abs(d)))
        summary[f"dragon2_{case}"] = {k: {"min": float(v.min()), "max": float(v.max()), "median": float(np.median(v))}
                                      for k, v in ratios.items()}
        summary[f"dragon2_{case}"]["E_GeV"] = E.tolist()
        summary[f"dragon2_{case}"]["ours_over_dragon2_all"] = ratios["ours_over_dragon2"].tolist()
        fmt = lambda v: f"{v.min():.4f} - {v.max():.4f}"  # noqa: E731
        md.append(f"| {case} | {np.max(np.abs(d)):.4f} | {fmt(ratios['dragon2_over_stencil'])} | "
                  f"{fmt(ratios['ours_over_stencil'])} | {fmt(ratios['ours_over_textbook_stencil'])} |")
        ax.semilogx(E, ratios["ours_over_dragon2"], label=f"({case}) ours / DRAGON2")
        ax.semilogx(E, ratios["ours_over_stencil"], "--", label=f"({case}) ours / DRAGON2 stencil")
        print(f"dragon2 {case}: {summary[f'dragon2_{case}']['ours_over_dragon2']}", flush=True)
    ax.set_xlabel("E [GeV]")
    ax.set_ylabel("ratio at the Sun")
    ax.legend(fontsize=7)
    fig.savefig(out / "dragon2_sun.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    a, b = summary["dragon2_a"], summary["dragon2_b"]
    Eb = np.array(b["E_GeV"])
    rb = np.array(b["ours_over_dragon2_all"])
    at = lambda e: rb[int(np.argmin(np.abs(np.log(Eb / e))))]  # noqa: E731
    md += ["", "Why they differ:", "",
           f"- (a), (c): ours / DRAGON2 = {a['ours_over_dragon2']['median']:.4f}, flat in energy. Our operator "
           f"equals the textbook stencil (ours / textbook stencil = {a['ours_over_textbook_stencil']['median']:.7f}; "
           "the 1.6e-6 is DRAGON2's kpc and D0 conversion, and for protons its m_p = 0.938 GeV). DRAGON2 stops "
           f"{a['dragon2_over_stencil']['median'] - 1:.1%} above the steady state of its own stencil (fixed pseudo-time "
           f"schedule), and its axis rows lower the Sun value by {a['ours_over_stencil']['median'] - 1:.1%}: "
           "1.013 / 1.036 = 0.978.",
           f"- (b): the same 0.978 below 2 GeV, then ours / DRAGON2 falls to {at(24):.3f} at 24 GeV, {at(147):.3f} at "
           f"147 GeV, {at(632):.3f} at 632 GeV and {rb[-1]:.3f} in the top bin. DRAGON2's first-order upwind loss "
           "scheme is 6% / 13% / 35% high at 24 / 147 / 758 GeV on this grid (README section 6.4); our second-order "
           "scheme changes by at most "
           f"{max(abs(b['ours_over_ours_e4_below_top2']['min'] - 1), abs(b['ours_over_ours_e4_below_top2']['max'] - 1)):.1%} "
           "below the top two bins when the energy step is quartered (ours base / ours 1.2^(1/4) over the whole range: "
           f"{b['ours_over_ours_e4']['min']:.4f} - {b['ours_over_ours_e4']['max']:.4f}). "
           "Against DRAGON2's finest energy run (step 1.2^(1/8)) ours on the base grid is "
           f"{b['ours_over_dragon2_e8']['median']:.3f} (median). In the top bins the two codes' top boundaries differ: "
           "ours has psi = 0 on the top face E_K f^1/2; DRAGON2 copies the loss-out coefficient of the bin below "
           "into the top bin.", ""]
    md += ["", "![DRAGON2](dragon2_sun.png)", ""]

    summary["wall_s"] = time.perf_counter() - t_start
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "report.md").write_text("\n".join(md) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if not isinstance(v, (list, dict))}, indent=2))
    return summary


if __name__ == "__main__":
    main()
