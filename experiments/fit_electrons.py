"""Fit the measured all-electron spectrum (AMS-02, DAMPE, Fermi-LAT, CALET, H.E.S.S.) marginalised
over the stochasticity of the nearby sources, and compare with a smooth-source fit and with sbi.

    python experiments/fit_electrons.py --quick --out reports/electrons_quick     # the README's main job
    python experiments/fit_electrons.py --out reports/electrons                   # the acceptance run: longer chains, mixed latent (~1 h 25 min, ~5 GB: docs/electron_fit.md)

Three posteriors of (R_SN, log10_E_cut, gamma, delta, kappa0, log10_L) with the same data and
measurement chain (crinfer.simulators.cre.measurement: force-field modulation, per-experiment
energy scale and normalisation, stat + sys errors):

1. NUTS with the SECRET emulator: the spectrum on the 19 bins is a latent vector with density
   SECRET(psi | theta) (marginalising over source stochasticity), sampled as itself (centred, the
   --quick default) or (partly) through SECRET's noise (--latent noise / mixed; mixed is the full
   run's default) (docs/electron_fit.md);
2. NUTS with the smooth-source mean spectrum (no stochasticity);
3. sbi NPE trained on SECRET draws passed through the measurement chain with nuisances drawn
   from their priors.

Writes DIR/report.md, corner.png, spectrum.png, posteriors as NetCDF and summary.json.
"""
from __future__ import annotations

import numpyro

numpyro.set_host_device_count(2)  # one CPU device per chain (before JAX starts)

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
from numpyro.infer import init_to_value  # noqa: E402

from crinfer.emulators.made import MADEEmulator  # noqa: E402
from crinfer.inference.compare import compare  # noqa: E402
from crinfer.inference.numpyro_runner import nuts_diagnostics, sample_model  # noqa: E402
from crinfer.inference.results import annotate_units  # noqa: E402
from crinfer.inference.sbi_runner import run_sbi  # noqa: E402
from crinfer.simulators.cre.fit import (CENTRED_BINS, FIT_PARAMETERS, LATENTS, MeasuredSpectrumSimulator,  # noqa: E402
                                        power_shift, smooth_model, stochastic_model)
from crinfer.simulators.cre.measurement import ElectronData, MeasurementModel  # noqa: E402
from crinfer.simulators.cre.smooth import SmoothMeanSpectrum  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIZES = {  # (full, quick)
    "warmup": (1000, 300), "samples": (1000, 300), "chains": (2, 2),
    "npe_simulations": (30_000, 10_000), "smooth_nodes": (384, 256),
    "target_accept": (0.95, 0.95),  # above NumPyro's 0.8, against divergences in the curved posteriors (docs/electron_fit.md)
}
LABELS = {"stochastic": "NUTS, SECRET (stochastic)", "smooth": "NUTS, smooth mean", "npe": "NPE on SECRET draws"}
NUISANCES = ("energy_scale", "log10_norm", "phi_GV")


def fit_nuts(model, key, size, init, chain_method="parallel"):
    """NUTS (dense mass matrix: the parameters are strongly correlated) -> (idata, diagnostics, seconds).

    "parallel" runs one chain per CPU device (falls back to "vectorized" with too few devices)."""
    if size["chains"] > jax.local_device_count():
        chain_method = "vectorized"
    t0 = time.perf_counter()
    mcmc, idata = sample_model(model, key=key, num_warmup=size["warmup"], num_samples=size["samples"],
                               num_chains=size["chains"], dense_mass=True, target_accept_prob=size["target_accept"],
                               chain_method=chain_method, init_strategy=init)
    seconds = time.perf_counter() - t0
    annotate_units(idata, FIT_PARAMETERS)
    names = list(FIT_PARAMETERS.names) + list(NUISANCES)
    return idata, nuts_diagnostics(idata, var_names=names), seconds


def start_at(values: dict):
    """NUTS's init strategy at ``values`` {site: value}, cast to float64 arrays: a Python float
    would start the chains' state weakly typed, and NumPyro would then compile its NUTS step
    twice (the first step returns it strongly typed): ~20-25 s more per fit on one core."""
    return init_to_value(values={site: np.asarray(v, dtype=np.float64) for site, v in values.items()})


def latent_start(secret, measurement, theta, latent, centred_bins):
    """{site: value} of the stochastic model's latent that puts psi_LIS through the data (flat
    beyond them): a start from which the chains need not first find the measured normalisation."""
    data = measurement.data
    order = np.argsort(data.energy_GeV)
    psi = np.interp(np.log(measurement.grid_GeV), np.log(data.energy_GeV[order]), data.psi[order])
    values = np.array([theta[n] for n in FIT_PARAMETERS.names])
    psi_src = psi - float(power_shift(values))
    if latent == "noise":
        return {"psi_src_noise": np.clip(np.asarray(secret.to_noise(psi_src, values[:5])), -3.0, 3.0)}
    z = np.clip(np.asarray(secret.network_coordinates(psi_src, values[:5])), -4.0, 4.0)  # SECRET's order
    if latent == "centred":
        return {"psi_src_standardised": z[np.argsort(secret.spec.order)]}
    return {"psi_src_head": z[:centred_bins], "psi_src_noise": np.zeros(len(z) - centred_bins)}  # the ridge given the head


def secret_widths(secret, idata, draws=200):
    """Median over posterior draws of SECRET's conditional sd of each bin given the earlier bins
    (the network's standardised units), in SECRET's autoregressive order: (bin energies [GeV], sd)."""
    post = idata.posterior
    theta = np.stack([np.asarray(post[n]).reshape(-1) for n in FIT_PARAMETERS.names[:5]], axis=-1)
    psi_src = np.asarray(post["psi_src"]).reshape(len(theta), -1)
    pick = np.linspace(0, len(theta) - 1, min(draws, len(theta))).astype(int)
    sd = np.median(np.asarray(secret.conditional_sd(psi_src[pick], theta[pick])), axis=0)
    return np.asarray(secret.observable.grid)[list(secret.spec.order)], sd


def median_prediction(measurement, idata):
    """Posterior median of psi at the measured points (N,)."""
    return np.median(np.asarray(idata.posterior["psi_predicted"]).reshape(-1, len(measurement.data)), axis=0)


def chi2(measurement, idata):
    """chi^2 of the data at the posterior-median prediction."""
    pred = median_prediction(measurement, idata)
    return float(np.sum(((measurement.data.psi - pred) / measurement.data.sigma_psi) ** 2))


def plot_spectrum(measurement, fits, path):
    """Data (E^3 flux) with the posterior predictive bands of the spectrum at Earth, and the
    normalised residuals of each point against each fit's median prediction."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = measurement.data
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    energies = np.geomspace(measurement.grid_GeV[0] * 1.02, measurement.grid_GeV[-1] / 1.05, 120)
    for i, (label, idata) in enumerate(fits.items()):
        psi_lis = np.asarray(idata.posterior["psi_lis"]).reshape(-1, measurement.grid_GeV.size)
        phi = np.asarray(idata.posterior["phi_GV"]).reshape(-1)
        earth = 10 ** np.asarray(measurement.at_earth(psi_lis, phi, energies))
        lo2, lo1, mid, hi1, hi2 = np.quantile(earth, [0.025, 0.16, 0.5, 0.84, 0.975], axis=0)
        colour = f"C{i}"
        top.fill_between(energies, lo2, hi2, color=colour, alpha=0.15, lw=0)
        top.fill_between(energies, lo1, hi1, color=colour, alpha=0.3, lw=0)
        top.plot(energies, mid, color=colour, lw=1.2, label=f"{label} (68/95%)")
        pred = median_prediction(measurement, idata)
        bottom.plot(data.energy_GeV, (data.psi - pred) / data.sigma_psi, ".", color=colour, ms=4)
    markers = "osD^v"
    for k, name in enumerate(data.experiments):
        sel = data.experiment_index == k
        y = 10 ** data.psi[sel]
        err = y * np.log(10) * data.sigma_psi[sel]
        top.errorbar(data.energy_GeV[sel], y, err, fmt=markers[k % 5], ms=3.5, color="k", mfc="none",
                     alpha=0.6, lw=0.8, label=name)
    top.set(xscale="log", yscale="log", ylabel=r"$E^3\,\Phi$ [GeV$^2$ m$^{-2}$ s$^{-1}$ sr$^{-1}$]",
            title="All-electron spectrum: data and posterior predictive bands")
    top.legend(fontsize=7, ncol=2)
    bottom.axhline(0, color="k", lw=0.6)
    bottom.set(xscale="log", xlabel="E [GeV]", ylabel="(data - median) / sigma")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def nuisance_table(measurement, fits):
    rows = ["| fit | " + " | ".join(f"s({e})" for e in measurement.experiments) + " | phi [GV] |",
            "| --- |" + " --- |" * (len(measurement.experiments) + 1)]
    for label, idata in fits.items():
        s = np.asarray(idata.posterior["energy_scale"]).reshape(-1, len(measurement.experiments))
        phi = np.asarray(idata.posterior["phi_GV"]).reshape(-1)
        rows.append(f"| {label} | " + " | ".join(f"{m:+.3f} +- {d:.3f}" for m, d in zip(s.mean(0), s.std(0)))
                    + f" | {phi.mean():.2f} +- {phi.std():.2f} |")
    return "\n".join(rows)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--quick", action="store_true", help="CPU-sized chains and simulation budget (~12 min on 2 cores)")
    ap.add_argument("--secret", type=Path, default=ROOT / "emulators" / "secret_lhs_197k_trend5",
                    help="SECRET artifact (default: the one that meets the emulator acceptance, docs/emulators.md)")
    ap.add_argument("--key", type=int, default=0)
    ap.add_argument("--chain-method", choices=("parallel", "vectorized"), default="parallel",
                    help="NUTS chains on one CPU device each (faster) or vectorised on one device (less memory: "
                         "docs/electron_fit.md, 'Memory')")
    ap.add_argument("--latent", choices=LATENTS, default=None,
                    help="the stochastic fit's latent spectrum: itself with SECRET's density (centred: fast, "
                         "diverges at SECRET's ridges; the --quick default), SECRET's noise (non-centred: fewer "
                         "divergences, ~30x slower at the quick size) or mixed (the first --centred-bins bins "
                         "centred, the rest noise; the full run's default: no divergences there)")
    ap.add_argument("--centred-bins", type=int, default=CENTRED_BINS,
                    help="with --latent mixed: bins, in SECRET's autoregressive order, kept centred (the report's "
                         "table of SECRET's conditional widths shows which are above its floor)")
    ap.add_argument("--target-accept", type=float, default=None,
                    help="NUTS target acceptance probability of both fits, in (0, 1) (default: {}, --quick {}; "
                         "docs/electron_fit.md, 'The stochastic fit over other keys')".format(*SIZES["target_accept"]))
    args = ap.parse_args(argv)
    if args.target_accept is not None and not 0.0 < args.target_accept < 1.0:
        ap.error(f"--target-accept {args.target_accept} must be in (0, 1)")
    args.latent = args.latent or ("centred" if args.quick else "mixed")
    return args


def main(argv=None):
    args = parse_args(argv)
    size = {k: v[1] if args.quick else v[0] for k, v in SIZES.items()}
    if args.target_accept is not None:
        size["target_accept"] = args.target_accept
    args.out.mkdir(parents=True, exist_ok=True)
    keys = jax.random.split(jax.random.PRNGKey(args.key), 3)
    t_start = time.perf_counter()

    secret = MADEEmulator.load(args.secret, guard="refuse")
    grid = np.asarray(secret.observable.grid)
    measurement = MeasurementModel(grid, ElectronData.load(grid[0], grid[-1]))
    smooth = SmoothMeanSpectrum(n_nodes=size["smooth_nodes"])
    centre = {p.name: 0.5 * (p.low + p.high) for p in FIT_PARAMETERS}
    start = {**centre, **latent_start(secret, measurement, centre, args.latent, args.centred_bins)}
    print(f"{len(measurement.data)} points of {', '.join(measurement.experiments)} in "
          f"{grid[0]:.3g}-{grid[-1]:.3g} GeV; SECRET {args.secret.name} ({secret.card.n_train} training simulations)",
          flush=True)

    fits, diagnostics, seconds = {}, {}, {}
    for name, model, init, key in (
            ("stochastic", lambda: stochastic_model(secret, measurement, args.latent, args.centred_bins), start, keys[0]),
            ("smooth", lambda: smooth_model(smooth, measurement), centre, keys[2])):
        print(f"NUTS: {LABELS[name]} ({args.chain_method} chains)", flush=True)
        idata, diagnostics[name], seconds[name] = fit_nuts(model, key, size, start_at(init), args.chain_method)
        idata.posterior.attrs["method"] = LABELS[name]
        idata.to_netcdf(args.out / f"posterior_{name}.nc")
        fits[LABELS[name]] = idata
        print(f"  {diagnostics[name]}  ({seconds[name]:.0f} s)", flush=True)

    print("NPE: simulating and training", flush=True)
    t0 = time.perf_counter()
    npe = run_sbi(MeasuredSpectrumSimulator(secret, measurement), measurement.data.psi, method="NPE",
                  num_simulations=size["npe_simulations"], key=keys[1], num_posterior_samples=4000,
                  batch_size=1000, show_progress=False)
    seconds["npe"] = time.perf_counter() - t0
    npe.idata.posterior.attrs["method"] = LABELS["npe"]
    npe.idata.to_netcdf(args.out / "posterior_npe.nc")

    comparison = compare({**fits, LABELS["npe"]: npe.idata}, names=list(FIT_PARAMETERS.names))
    comparison.corner(args.out / "corner.png", title="All-electron fit: stochastic vs smooth vs NPE")
    plot_spectrum(measurement, fits, args.out / "spectrum.png")
    chi2s = {name: chi2(measurement, fits[LABELS[name]]) for name in ("stochastic", "smooth")}
    width_energies, widths = secret_widths(secret, fits[LABELS["stochastic"]])
    summary = {"quick": args.quick, "secret": str(args.secret), "secret_n_train": secret.card.n_train, "latent": args.latent,
               "points": len(measurement.data), "experiments": list(measurement.experiments), "sizes": size,
               "diagnostics": diagnostics, "chi2_at_median": chi2s, "seconds": seconds,
               "total_seconds": time.perf_counter() - t_start, "npe_epochs": npe.info.get("epochs"),
               "centred_bins": args.centred_bins if args.latent == "mixed" else None,
               "secret_conditional_sd": {"energy_GeV": width_energies.tolist(), "sd": widths.tolist(),
                                         "floor": secret.spec.epsilon}}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    write_report(args.out, summary, comparison, measurement, fits)
    print(f"report: {args.out / 'report.md'} ({summary['total_seconds']:.0f} s)")


def widths_table(summary):
    w = summary["secret_conditional_sd"]
    return "\n".join(["| E [GeV] | " + " | ".join(f"{e:.3g}" for e in w["energy_GeV"]) + " |",
                      "| --- |" + " --- |" * len(w["sd"]),
                      "| sd | " + " | ".join(f"{v:.3f}" for v in w["sd"]) + " |"])


def write_report(out, summary, comparison, measurement, fits):
    def verdict(d):
        ok = d["r_hat_max"] <= 1.01 and d["divergences"] == 0
        return "meets" if ok else "does NOT meet"

    lines = [
        "# All-electron spectrum: a fit marginalised over source stochasticity", "",
        f"Data: {summary['points']} points of {', '.join(summary['experiments'])} "
        f"(crinfer.data.electrons; sources in its PROVENANCE.md) within the emulator's energy range. "
        "Model: seed 003's discrete supernova-remnant electrons (crinfer.simulators.cre), emulated by "
        f"SECRET `{Path(summary['secret']).name}` ({summary['secret_n_train']} training simulations); "
        "force-field modulation, per-experiment energy scale and normalisation nuisances, stat + sys errors "
        "(docs/electron_fit.md).", "",
        f"Run: {'--quick' if summary['quick'] else 'full'}; stochastic latent {summary['latent']}"
        + (f" ({summary['centred_bins']} bins centred)" if summary["centred_bins"] else "")
        + f"; sizes {json.dumps(summary['sizes'])}; "
        f"total {summary['total_seconds']:.0f} s.", "",
        "## NUTS diagnostics (parameters and nuisances)", "",
        "| fit | max R-hat | min bulk ESS | min tail ESS | divergences | leapfrog steps per draw | chi^2 at median / points | seconds | R-hat <= 1.01 and no divergences |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in ("stochastic", "smooth"):
        d = summary["diagnostics"][name]
        lines.append(f"| {LABELS[name]} | {d['r_hat_max']:.3f} | {d['ess_bulk_min']:.0f} | {d['ess_tail_min']:.0f} | "
                     f"{d['divergences']} | {d['steps_mean']:.0f} | {summary['chi2_at_median'][name]:.1f} / {summary['points']} | "
                     f"{summary['seconds'][name]:.0f} | {verdict(d)} |")
    lines += ["", f"NPE: {summary['seconds']['npe']:.0f} s (simulation + training + 4000 draws).", "",
              "## Posteriors", "", comparison.markdown(), "", "![corner](corner.png)", "",
              "## SECRET's conditional widths at the stochastic posterior", "",
              "Median over posterior draws of the sd of each bin's SECRET conditional given the earlier bins, in "
              f"SECRET's autoregressive order (the network's standardised units; floor {summary['secret_conditional_sd']['floor']}). "
              "Bins at the floor are fixed by the earlier ones: thin ridges for a centred latent "
              "(docs/electron_fit.md).", "", widths_table(summary), "",
              "## Nuisances (posterior mean +- sd)", "", nuisance_table(measurement, fits), "",
              "## Data and posterior predictive bands", "", "![spectrum](spectrum.png)", ""]
    (out / "report.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
