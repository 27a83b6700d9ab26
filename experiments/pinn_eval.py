"""Evaluate the PINN surrogates of the transport equation against the exact reference series.

    python experiments/pinn_eval.py --quick --out reports/pinn_quick     # minutes on a CPU
    python experiments/pinn_eval.py --out reports/pinn                     # the shipped artifacts
    python experiments/pinn_eval.py --only d --artifact /tmp/d --out reports/pinn_d   # one trained elsewhere
    python experiments/pinn_eval.py --timing-only --out reports/pinn_timing            # inference times only

For each recipe in emulators/pinn_*/ it loads the trained artifact (``emulators/<name>/``); with
--quick, or where no artifact exists yet, it first trains the recipe's CPU-sized variant into
DIR/artifacts/<name> (those numbers then describe a smoke run, and the summary says so). Writes
DIR/summary.json with, per recipe: median/p95/max relative error over the validation grid
(r <= 0.95 R_h, |z| <= 0.95 z_h, 1e-1..1e6 GeV; over held-out parameter points for the
conditional recipe; pooled over the species, and per species under the species' name, for the
two-species recipe), infer_10k_ms and its device, the reference series' time for the same
10k values, training time, steps and peak memory (the card's; train_seconds_with_warm_starts adds
the recorded warm starts' seconds); under "local", per species, the same figures
for the inner Galaxy (r <= 12 kpc, |z| <= 2 kpc of the grid) and at the Sun (r = 8.5 kpc, z = 0,
57 energies), pooled over the parameter points; under "largest", per species, where the maximum
sits (r, z, E, parameter point) and the maximum at each grid radius; and
DIR/pinn_<label>[_<species>].png: the error map in (r, z), the spectrum at the Sun with the
reference, the error against energy.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from pathlib import Path

import jax
import numpy as np

from crinfer.emulators.pinn.emulator import PINNEmulator, problem_hash
from crinfer.emulators.pinn.problem import R_SUN, PINNProblem
from crinfer.emulators.pinn.recipe import load_recipe, seconds_with_warm_starts, train_recipe
from crinfer.emulators.pinn.reference import reference_psi
from crinfer.emulators.pinn.validation import heldout_parameters, relative_errors, summarise, where_largest

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {  # label -> folder under emulators/
    "a": "pinn_a_diffusion", "b": "pinn_b_ic", "c": "pinn_c_two_species", "d": "pinn_d_conditional"}
HELDOUT = {"quick": 3, "full": 20}


def artifact_for(name: str, out: Path, quick: bool) -> tuple[PINNEmulator | None, str]:
    folder = ROOT / "emulators" / name
    if not (folder / "recipe.toml").exists():
        return None, "no recipe (not implemented yet)"
    if not quick and (folder / "card.json").exists():
        return PINNEmulator.load(folder, guard="off"), "shipped artifact"
    target = out / "artifacts" / name
    shutil.rmtree(target, ignore_errors=True)         # a scratch folder: never resume a stale run
    recipe = quick_recipe(folder, target)
    return train_recipe(recipe, target, quick=True, overwrite=True, progress=False), "quick training"


def quick_recipe(folder: Path, target: Path) -> Path:
    """A copy of the recipe in ``target`` whose warm start points at the quick artifact trained
    before it in this run (dropped when there is none)."""
    text = (folder / "recipe.toml").read_text()
    recipe = load_recipe(folder / "recipe.toml")
    if "warm_start" in recipe:
        start = Path(recipe["warm_start"]).name
        keep = (target.parent / start / "card.json").exists()
        text = "\n".join(f'warm_start = "../{start}"' if line.startswith("warm_start") else line
                         for line in text.splitlines() if keep or not line.startswith("warm_start"))
    target.mkdir(parents=True, exist_ok=True)
    (target / "recipe.toml").write_text(text)
    return target / "recipe.toml"


def timings(emu: PINNEmulator, theta, n_points: int = 10_000, reference: bool = True) -> dict:
    """psi at ``n_points`` random points (every species is one output of the same network
    evaluation; the first is returned), jitted as inside a likelihood (so without the eager
    input checks), mean of 10 calls after a compiling one, against the reference series for 10k
    values of one species."""
    rng = np.random.default_rng(0)
    pb = emu.problem
    sp = pb.species[0]
    z_h = float(pb.values(np.asarray(theta))["z_h"])
    r, z = rng.uniform(0, 0.95 * pb.R_h, n_points), rng.uniform(0, 0.95 * z_h, n_points)
    E = np.exp(rng.uniform(np.log(pb.E_min), np.log(pb.E_max), n_points))
    r, z, E = (jax.device_put(v) for v in (r, z, E))      # inputs already on the device, as in a fit
    psi = jax.jit(lambda r, z, E, th: emu.psi(r, z, E, th if pb.names else None, sp))
    th = jax.device_put(np.asarray(theta, dtype=np.float32))
    psi(r, z, E, th).block_until_ready()                   # compile
    t = time.perf_counter()
    for _ in range(10):
        psi(r, z, E, th).block_until_ready()
    infer = (time.perf_counter() - t) / 10 * 1e3
    out = {"infer_10k_ms" if n_points == 10_000 else f"infer_{n_points}_ms": infer,
           "infer_device": str(jax.devices()[0].device_kind)}
    if reference:
        t = time.perf_counter()          # the series on a 100 x 100 x 1 grid = 10k values (one energy)
        reference_psi(pb, theta, np.linspace(0, 19, 100), np.linspace(0, 0.95 * z_h, 100), np.array([10.0]))
        out["reference_series_10k_ms"] = (time.perf_counter() - t) * 1e3
    return out


def local_errors(emu: PINNEmulator, runs: list, thetas, species: str) -> dict:
    """Error summaries of one species in the inner Galaxy (r <= 12 kpc, |z| <= 2 kpc of the
    validation grids ``runs``) and at the Sun (8.5, 0) kpc over 57 energies, pooled over ``thetas``."""
    inner = [p["rel"][(p["r"] <= 12.0)[:, None] & (p["z"] <= 2.0)[None, :]] for p in runs]
    pb = emu.problem
    E = np.logspace(np.log10(pb.E_min), np.log10(pb.E_max), 57)
    sun = [np.abs(np.asarray(emu.psi(R_SUN, 0.0, E, t if pb.names else None, species), dtype=float)
                  / reference_psi(pb, t, [R_SUN], [0.0], E, species=emu.species_index(species))[0, 0] - 1.0)
           for t in thetas]
    return {"inner_r12_z2": summarise(np.concatenate(inner)), "sun": summarise(np.concatenate(sun))}


def plots(label: str, res: dict, out: Path, species: str = "") -> None:
    """The error map, the spectrum at the Sun and the error against energy of one species."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    m = ax[0].pcolormesh(res["r"], res["z"], np.log10(res["rel"].max(axis=2).T + 1e-12), shading="auto")
    fig.colorbar(m, ax=ax[0], label="log10 max_E |rel. error|")
    ax[0].set(xlabel="r [kpc]", ylabel="z [kpc]", title=f"({label}) {species} error map".replace("  ", " "))
    i_sun = int(np.argmin(np.abs(res["r"] - R_SUN)))
    E = res["E"]
    ax[1].loglog(E, E**2 * res["reference"][i_sun, 0], "k-", label="exact series")
    ax[1].loglog(E, E**2 * res["pinn"][i_sun, 0], "C1--", label="PINN")
    ax[1].set(xlabel="E [GeV]", ylabel="E^2 psi [GeV kpc^-3]", title=f"r = {res['r'][i_sun]:.1f} kpc, z = 0")
    ax[1].legend()
    ax[2].semilogx(E, res["rel"].max(axis=(0, 1)), label="max over (r, z)")
    ax[2].semilogx(E, np.median(res["rel"], axis=(0, 1)), label="median")
    ax[2].axhline(0.01, color="k", ls=":", label="1%")
    ax[2].set(xlabel="E [GeV]", ylabel="|rel. error|", yscale="log")
    ax[2].legend()
    fig.tight_layout()
    fig.savefig(out / (f"pinn_{label}_{species}.png" if species else f"pinn_{label}.png"), dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="train CPU-sized variants; minutes")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--only", default="abcd", help="which recipes, e.g. 'ab'")
    ap.add_argument("--timing-only", action="store_true",
                    help="only the inference timings of the shipped artifacts (10k and 1e6 points; for a GPU run)")
    ap.add_argument("--artifact", type=Path, default=None,
                    help="evaluate the artifact in this folder (e.g. a pinn_train.py --out) instead of the "
                         "shipped one; needs --only with one recipe")
    args = ap.parse_args(argv)
    unknown = sorted(set(args.only) - set(RECIPES))
    if unknown:
        ap.error(f"--only {args.only}: unknown recipe label(s) {unknown}; allowed: {''.join(RECIPES)}")
    artifact = None
    if args.artifact is not None:
        if len(args.only) != 1 or args.quick:
            ap.error(f"--artifact {args.artifact} needs --only with one recipe (got --only {args.only}) and no --quick")
        artifact = PINNEmulator.load(args.artifact, guard="off")
        recipe = load_recipe(ROOT / "emulators" / RECIPES[args.only] / "recipe.toml")
        if problem_hash(artifact.problem) != problem_hash(PINNProblem(**recipe.get("problem", {}))):
            ap.error(f"--artifact {args.artifact} solves another problem than recipe ({args.only}) "
                     f"{RECIPES[args.only]}: {artifact.problem.to_dict()}")
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"quick": args.quick, "jax_device": str(jax.devices()[0])}
    if args.timing_only:
        return timing_summary(args, summary, artifact)
    for label in args.only:
        if artifact is not None:
            emu, origin = artifact, f"artifact {args.artifact}"
        else:
            emu, origin = artifact_for(RECIPES[label], args.out, args.quick)
        if emu is None:
            summary[label] = {"status": origin}
            continue
        entry = {"origin": origin, "card_metrics": emu.card.metrics,
                 "train_seconds_with_warm_starts": seconds_with_warm_starts(emu.card.metrics)}
        pb = emu.problem
        thetas = heldout_parameters(emu, HELDOUT["quick" if args.quick else "full"]) if pb.names else np.zeros((1, 0))
        per = {sp: [relative_errors(emu, t, species=sp) for t in thetas] for sp in pb.species}
        entry.update(summarise(np.concatenate([p["rel"].ravel() for runs in per.values() for p in runs])))
        if len(pb.species) > 1:
            entry.update({sp: summarise(np.concatenate([p["rel"].ravel() for p in runs])) for sp, runs in per.items()})
        if pb.names:
            entry["heldout_theta"] = thetas.tolist()
            entry["per_point_max_rel_err"] = [max(per[sp][i]["max_rel_err"] for sp in pb.species)
                                              for i in range(len(thetas))]
        entry["local"] = {sp: local_errors(emu, runs, thetas, sp) for sp, runs in per.items()}
        entry["largest"] = {sp: where_largest(runs) for sp, runs in per.items()}
        entry.update(timings(emu, thetas[0]))
        for sp, runs in per.items():
            plots(label, runs[0], args.out, sp if len(pb.species) > 1 else "")
        summary[label] = entry
        print(f"({label}) {RECIPES[label]}: median {entry['median_rel_err']:.2e}  p95 {entry['p95_rel_err']:.2e}  "
              f"max {entry['max_rel_err']:.2e}  infer {entry['infer_10k_ms']:.2f} ms/10k ({origin})", flush=True)
        for sp, w in entry["largest"].items():
            print(f"    {sp}: max {w['max_rel_err']:.2e} at r = {w['r_kpc']:.1f} kpc, z = {w['z_kpc']:.2f} kpc, "
                  f"E = {w['E_GeV']:.3g} GeV (point {w['point']}); max per radius "
                  + " ".join(f"{m:.3f}" for m in w["max_by_radius"]), flush=True)
    summary["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    return summary


def timing_summary(args, summary: dict, artifact: PINNEmulator | None) -> dict:
    """--timing-only: the inference timings at 10k and 1e6 points of each shipped artifact (or of
    ``artifact``, the one --artifact loaded)."""
    for label in args.only:
        emu = artifact or PINNEmulator.load(ROOT / "emulators" / RECIPES[label], guard="off")
        theta = heldout_parameters(emu, 1)[0] if emu.problem.names else np.zeros(0)
        summary[label] = {**timings(emu, theta), **timings(emu, theta, 1_000_000, reference=False)}
        print(f"({label}) {RECIPES[label]}: {summary[label]['infer_10k_ms']:.3f} ms per 10k points, "
              f"{summary[label]['infer_1000000_ms']:.2f} ms per 1e6 on {summary[label]['infer_device']}", flush=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    return summary


if __name__ == "__main__":
    main()
