"""Evaluate the MADE (single point) and SECRET (conditional) emulators of the stochastic-electron
Monte Carlo, as in seed 003 section 4.

    python experiments/secret_eval.py --quick --out reports/secret_quick
    python experiments/secret_eval.py --out reports/secret \\
        --single-store campaigns/cre_single --grid-store campaigns/cre_grid
    python experiments/secret_eval.py --out reports/secret_cpu --secret emulators/secret_cpu --no-single \\
        --heldout-points 16 --heldout-realisations 200 --timing-n 100000   # a shipped artifact, no training
    python experiments/secret_eval.py --out reports/secret_single40k --single-store campaigns/cre_single_40k \\
        --no-conditional --timing-n 100000                                  # single-point MADE only
    python experiments/secret_eval.py --out reports/secret_speed --secret emulators/secret_cpu --speed-only
                                                    # draws and log densities only, float64 and float32

Without stores the simulations are run here with crinfer.simulators.cre (sizes below; --quick
makes them CPU-sized). Writes DIR/summary.json with classifier_accuracy_single (sbi's c2st MLP,
5-fold cross-validation, both sets standardised), dq{5,16,50,84,95}_frac_below_0p05 / _0p1 (the
fraction of held-out parameter points, half of them at the centres of the training-grid cells,
whose max-over-energy quantile deviation is below 0.05 / 0.1 dex; mc_halves_dq*: the same between
the two halves of the held-out Monte Carlo, the deviation that its own noise alone gives at half
the draws; dq50_exact_emulator_frac_below_*: the fraction an exact emulator would reach, through
the held-out Monte Carlo's own noise, averaged over bootstraps; dq50_noise_floor_per_point: the
median of that noise per point), median_shift_rms_per_bin (rms over the held-out points of the median's
emulated-minus-simulated shift in each bin, dex), sample_1e6_s, logprob_1e6_s
(of SECRET, or of the single-point MADE with --no-conditional), the device and every training
size; DIR/*.png (marginals, quantile bands); DIR/made_single/ and DIR/secret/ (the artifacts).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from crinfer.campaign.runner import load_dataset
from crinfer.emulators.made import MADEEmulator, MADESpec
from crinfer.emulators.made_train import train_made
from crinfer.emulators.validation import (
    EMULATED_PER_HELDOUT, QUANTILES, fraction_below, load_heldout, offset_grid_points, quantile_deviation,
    quantile_noise_floor, quantile_shift, save_heldout)
from crinfer.inference.c2st import c2st
from crinfer.simulators.cre import PARAMETERS, SINGLE_POINT, CREConfig, CRESimulator, single_point_parameters

SINGLE_ENERGIES = tuple(np.logspace(2.4, 4.2, 19))
SIZES = {  # (full, quick)
    "single_train": (90_000, 1_500), "single_test": (10_000, 500),
    "grid_points_per_dim": (4, 2), "grid_realisations": (1_000, 24),
    "heldout_points": (64, 6), "heldout_realisations": (1_000, 64), "timing_n": (1_000_000, 100_000),
}


def simulate(sim, key, theta_rows, n_each):
    """(theta (N, P), psi (N, D)): n_each realisations at every row of theta_rows."""
    xs = [sim.simulate_many(jax.random.fold_in(jax.random.PRNGKey(key), i), row, n_each, batch=min(n_each, 64))
          for i, row in enumerate(theta_rows)]
    return np.repeat(theta_rows, n_each, axis=0), np.concatenate(xs)


def single_point_data(args, size):
    if args.single_store:
        _, x, _ = load_dataset(args.single_store, partial=args.partial)
        n_test = min(size["single_test"], len(x) // 10)
        return x[n_test:], x[:n_test]
    params = single_point_parameters()
    sim = CRESimulator(CREConfig(energies_GeV=SINGLE_ENERGIES, max_rate=SINGLE_POINT["R_SN"]), params)
    theta = params.from_mapping(SINGLE_POINT)[None]
    _, x = simulate(sim, args.key, theta, size["single_train"] + size["single_test"])
    return x[size["single_test"]:], x[:size["single_test"]]


def conditional_data(args, size):
    """Training (theta, x) on a grid (none with --secret) and held-out points: half at grid-cell
    centres, half random."""
    sim = CRESimulator(CREConfig(), PARAMETERS)
    if args.secret:
        theta = x = None
    elif args.grid_store:
        theta, x, _ = load_dataset(args.grid_store)
    else:
        theta, x = simulate(sim, args.key + 1, PARAMETERS.grid(size["grid_points_per_dim"]), size["grid_realisations"])
    return (theta, x, *heldout_set(args, size, sim))


def heldout_set(args, size, sim):
    """(theta (K, P), Monte Carlo psi: K arrays (M_k, D), number of cell centres first): simulated,
    or read from --heldout-sims when that file exists (written there otherwise, so that several
    emulators are compared on the same draws; experiments/secret_heldout_deepen.py adds
    realisations where the set's own noise is large)."""
    path = args.heldout_sims
    if path is not None and path.exists():
        theta, sims, n_offset = load_heldout(path)
        sizes = [len(s) for s in sims]
        print(f"held-out simulations from {path}: {len(sims)} points x {min(sizes)} to {max(sizes)} realisations")
        return theta, sims, n_offset
    rng = np.random.default_rng(args.key)
    offset = offset_grid_points(PARAMETERS, size["grid_points_per_dim"])
    n_half = size["heldout_points"] // 2
    offset = offset[rng.choice(len(offset), min(n_half, len(offset)), replace=False)]
    random = PARAMETERS.sample_prior(args.key + 2, size["heldout_points"] - len(offset))
    heldout = np.concatenate([offset, random])
    _, x_held = simulate(sim, args.key + 3, heldout, size["heldout_realisations"])
    x_held = list(x_held.reshape(len(heldout), size["heldout_realisations"], -1))
    if path is not None:
        save_heldout(path, heldout, x_held, len(offset))
    return heldout, x_held, len(offset)


def timed(fn):
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - t0


def speed(emu, theta, n):
    """Seconds for n samples and n log densities (after one compiling call), scaled to 1e6."""
    x = emu.sample(0, n, theta)
    theta_b = None if theta is None else np.broadcast_to(theta, (n, len(theta)))
    timed(lambda: emu.sample(1, n, theta))
    timed(lambda: emu.log_prob(x, theta_b))
    scale = 1e6 / n
    return scale * timed(lambda: emu.sample(2, n, theta)), scale * timed(lambda: emu.log_prob(x, theta_b))


def plot_single(x_test, samples, energies, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, j in zip(axes[:2], (0, len(energies) - 1)):
        bins = np.linspace(*np.quantile(x_test[:, j], [0.001, 0.999]), 50)
        ax.hist(x_test[:, j], bins, density=True, histtype="step", label="Monte Carlo")
        ax.hist(samples[:, j], bins, density=True, histtype="step", label="MADE")
        ax.set_xlabel(f"psi at {energies[j]:.0f} GeV")
        ax.legend()
    a, b = len(energies) // 2, len(energies) - 1
    axes[2].scatter(x_test[:, a], x_test[:, b], s=2, alpha=0.4, label="Monte Carlo")
    axes[2].scatter(samples[: len(x_test), a], samples[: len(x_test), b], s=2, alpha=0.4, label="MADE")
    axes[2].set_xlabel(f"psi at {energies[a]:.0f} GeV")
    axes[2].set_ylabel(f"psi at {energies[b]:.0f} GeV")
    axes[2].legend(markerscale=5)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_bands(energies, sims, samples, title, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for data, colour, label in ((sims, "C0", "Monte Carlo"), (samples, "C1", "SECRET")):
        q = np.quantile(data, QUANTILES, axis=0)
        ax.fill_between(energies, q[0], q[4], color=colour, alpha=0.15)
        ax.fill_between(energies, q[1], q[3], color=colour, alpha=0.3)
        ax.plot(energies, q[2], color=colour, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("E [GeV]")
    ax.set_ylabel("psi = log10(E^3 phi)")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def evaluate_single(args, size, train):
    """Train the single-point MADE; C2ST against held-out simulations -> (made, summary entries)."""
    x_train, x_test = single_point_data(args, size)
    made = train_made(x_train, key=args.key, name="made_single", **train)
    made.save(args.out / "made_single", overwrite=True)
    n_c2st = min(10_000, len(x_test))
    samples = np.asarray(made.sample(args.key + 10, n_c2st))
    out = dict(classifier_accuracy_single=c2st(x_test[:n_c2st], samples), single_n_train=made.card.n_train,
               single_n_validation=made.card.n_validation, single_n_c2st=n_c2st)
    plot_single(x_test, samples, SINGLE_ENERGIES, args.out / "single_point_marginals.png")
    print(f"single point: c2st accuracy {out['classifier_accuracy_single']:.3f} "
          f"({made.card.n_train} training simulations)", flush=True)
    return made, out


def evaluate_conditional(args, size, train):
    """Train (or load) SECRET; quantile deviations at held-out points -> (secret, summary entries, a held-out theta)."""
    theta, x, heldout, x_held, n_offset = conditional_data(args, size)
    out = {}
    if args.secret:
        secret = MADEEmulator.load(args.secret)
        out["secret"] = str(args.secret)
    else:
        spec = MADESpec.with_random_order(args.key, x.shape[1], context_features=len(PARAMETERS))
        secret = train_made(x, theta, PARAMETERS, spec, key=args.key, name="secret", **train)
        secret.save(args.out / "secret", overwrite=True)
    energies = np.asarray(CREConfig().energies_GeV)
    dev, noise, median_shift, floor = [], [], [], []
    for i, (row, sims) in enumerate(zip(heldout, x_held)):
        emulated = np.asarray(secret.sample(args.key + 100 + i, EMULATED_PER_HELDOUT * len(sims), row))
        dev.append(quantile_deviation(sims, emulated))
        median_shift.append(quantile_shift(sims, emulated, (0.5,))[0])
        noise.append(quantile_deviation(sims[::2], sims[1::2]))
        floor.append(quantile_noise_floor(sims, len(emulated), 0.5, seed=args.key + i))
        if i in (0, n_offset):
            kind = "grid-cell centre" if i < n_offset else "random point"
            label = ", ".join(f"{n}={v:.3g}" for n, v in zip(PARAMETERS.names, row))
            plot_bands(energies, sims, emulated, f"held-out {kind}: {label}", args.out / f"bands_heldout_{i}.png")
    dev, noise = np.array(dev), np.array(noise)
    for j, q in enumerate(QUANTILES):
        for tol in (0.05, 0.1):
            name = f"dq{round(100 * q)}_frac_below_{str(tol).replace('.', 'p')}"
            out[name] = float(fraction_below(dev[:, j], tol))
            out[f"mc_halves_{name}"] = float(fraction_below(noise[:, j], tol))
    floor = np.array(floor)
    for tol in (0.05, 0.1):
        out[f"dq50_exact_emulator_frac_below_{str(tol).replace('.', 'p')}"] = float(np.mean(floor < tol))
    out["dq50_noise_floor_per_point"] = np.median(floor, axis=1).tolist()
    out["median_shift_rms_per_bin"] = np.sqrt(np.mean(np.square(median_shift), axis=0)).tolist()
    out.update(conditional_n_train=secret.card.n_train, conditional_n_validation=secret.card.n_validation,
               heldout_points=len(heldout), heldout_offset_points=n_offset,
               heldout_realisations_per_point=[len(s) for s in x_held], dq_max_per_point=dev.tolist())
    np.savez(args.out / "heldout.npz", theta=heldout, deviations=dev)
    return secret, out, heldout[0]


def device_label() -> str:
    """'platform: kind' of the default JAX device (the summaries' "device")."""
    return f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}"


def speed_summary(args) -> dict:
    """--speed-only: 1e6 draws and log densities of the --secret artifact at the centre of its
    training domain, in float64 (the default) and float32, on the default JAX device."""
    n = args.timing_n or SIZES["timing_n"][0]
    summary = {"device": device_label(), "secret": str(args.secret), "timing_measured_on": n}
    for name, dtype in (("float64", jnp.float64), ("float32", jnp.float32)):
        emu = MADEEmulator.load(args.secret, guard="off", dtype=dtype)
        theta = 0.5 * (np.asarray(emu.params.low) + np.asarray(emu.params.high))
        summary[f"sample_1e6_s_{name}"], summary[f"logprob_1e6_s_{name}"] = speed(emu, theta, n)
    summary["sample_1e6_s"], summary["logprob_1e6_s"] = summary["sample_1e6_s_float64"], summary["logprob_1e6_s_float64"]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--quick", action="store_true", help="CPU-sized data and training")
    ap.add_argument("--single-store", type=Path, help="campaign store of the single point (cre_single.toml)")
    ap.add_argument("--grid-store", type=Path, help="campaign store of the 5-D grid (cre_grid.toml)")
    ap.add_argument("--partial", action="store_true",
                    help="use the finished chunks of an incomplete --single-store campaign")
    ap.add_argument("--secret", type=Path, help="evaluate this conditional artifact instead of training one")
    ap.add_argument("--no-single", action="store_true", help="skip the single-point MADE")
    ap.add_argument("--no-conditional", action="store_true", help="skip the conditional SECRET")
    ap.add_argument("--heldout-points", type=int, help="held-out parameter points (default by --quick)")
    ap.add_argument("--heldout-realisations", type=int, help="Monte Carlo realisations per held-out point")
    ap.add_argument("--heldout-sims", type=Path, help="NPZ of the held-out simulations: read if it exists, "
                    "written otherwise")
    ap.add_argument("--timing-n", type=int, help="draws per timing call, scaled to 1e6 (default 1e6; 1e5 on a "
                    "CPU: 1e6 float64 draws need ~10 GB)")
    ap.add_argument("--speed-only", action="store_true",
                    help="only time the --secret artifact's draws and log densities, in float64 and float32")
    ap.add_argument("--key", type=int, default=0)
    args = ap.parse_args(argv)
    if args.speed_only:
        if args.secret is None:
            ap.error("--speed-only times a trained artifact: give it with --secret DIR")
        return speed_summary(args)
    if args.no_single and args.no_conditional:
        ap.error("--no-single and --no-conditional leave nothing to evaluate")
    size = {k: v[1] if args.quick else v[0] for k, v in SIZES.items()}
    for name in ("heldout_points", "heldout_realisations", "timing_n"):
        if getattr(args, name) is not None:
            size[name] = getattr(args, name)
    train = dict(max_epochs=150 if args.quick else 2000, patience=10 if args.quick else 30, progress=True)
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"quick": args.quick, "device": device_label()}

    if not args.no_single:
        made, single = evaluate_single(args, size, train)
        summary.update(single)
        timed_on = (made, None, "single-point MADE")
    if not args.no_conditional:
        secret, conditional, theta0 = evaluate_conditional(args, size, train)
        summary.update(conditional)
        timed_on = (secret, theta0, "SECRET")
    emu, theta, label = timed_on
    sample_s, logprob_s = speed(emu, theta, size["timing_n"])
    summary.update(sample_1e6_s=sample_s, logprob_1e6_s=logprob_s, timing_measured_on=size["timing_n"],
                   timed_model=label)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    per_point = ("dq_max_per_point", "dq50_noise_floor_per_point", "heldout_realisations_per_point")
    print(json.dumps({k: v for k, v in summary.items() if k not in per_point}, indent=2))


if __name__ == "__main__":
    main()
