"""Can the network represent the solution, and does the PINN loss keep it? A capacity check of a PINN.

    python experiments/pinn_capacity.py emulators/pinn_b_ic --out reports/pinn_b_capacity   # ~35 min, one core

For a fixed-parameter artifact (every species it has, e.g. both of (c)):

1. *fit*: Adam on (ln psi_net - ln psi_series)^2, averaged over the species, on a grid of 49 radii x 25
   heights x 141 energies,
   denser than the card's and reaching 0.97 R_h, 0.97 z_h, from the artifact's weights: the card
   grid's errors then say what the architecture can represent (a diagnostic only: the shipped
   PINNs never see the series);
2. *loss*: the PINN loss (the mean squared scaled residual, amplitude and relative weightings) of
   the fit and of the artifact on one collocation set: whether the loss prefers the accurate one;
3. *resume*: L-BFGS on the PINN loss from the fit (the artifact's own [train] settings, ``--weighting``
   for its phase), the card grid's errors every ``--chunk`` iterations (each chunk a new point set):
   whether the loss keeps an accurate network or moves it.

Writes OUT/summary.json (after the fit and again after every chunk, so that a stopped run keeps
its figures) and the fitted network as an artifact, OUT/fit.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from rich.progress import track

from crinfer.core.errors import ConfigurationError
from crinfer.emulators.pinn.emulator import PINNEmulator
from crinfer.emulators.pinn.reference import parameter_values, reference_psi
from crinfer.emulators.pinn.residual import psi as psi_from_model
from crinfer.emulators.pinn.train import WEIGHTINGS, PINNTrainer, TrainConfig, sample_points, scaled_residuals
from crinfer.emulators.pinn.validation import relative_errors, summarise, where_largest

FIT_BATCH = 4096
FIT_SCHEDULE = dict(init_value=1e-3, transition_steps=1000, decay_rate=0.7)   # Adam's learning rate


def fit_grid(emu: PINNEmulator):
    """(r, z, E) of the fit [kpc, kpc, GeV]: 49 x 25 x 141, to 0.97 of the boundaries."""
    pb = emu.problem
    z_h = parameter_values(pb, ())["z_h"]
    return (np.linspace(0.0, 0.97 * pb.R_h, 49), 0.97 * z_h * np.linspace(0.0, 1.0, 25) ** 2,
            np.logspace(np.log10(pb.E_min), np.log10(pb.E_max), 141))


def fit_to_series(emu: PINNEmulator, steps: int, key) -> eqx.Module:
    """The artifact's network after ``steps`` Adam steps on the squared error of ln psi against
    the series on :func:`fit_grid`, every species (batches of FIT_BATCH points drawn with ``key``)."""
    pb = emu.problem
    r, z, E = fit_grid(emu)
    target = np.stack([np.log(reference_psi(pb, (), r, z, E, species=s)).ravel()
                       for s in range(len(pb.species))], axis=-1)          # (points, species)
    R, Z, EE = (g.ravel() for g in np.meshgrid(r, z, E, indexing="ij"))
    z_h = parameter_values(pb, ())["z_h"]
    rho, zeta, lnE, target = (jnp.asarray(v, jnp.float32) for v in (R / pb.R_h, Z / z_h, np.log(EE), target))
    no_params = jnp.zeros(0, jnp.float32)
    params, static = eqx.partition(emu.model, eqx.is_inexact_array)
    opt = optax.adam(optax.exponential_decay(**FIT_SCHEDULE))

    def loss(p, idx):
        ln_psi = jnp.log(psi_from_model(eqx.combine(p, static), pb, rho[idx], zeta[idx], lnE[idx], no_params))
        return jnp.mean((ln_psi - target[idx]) ** 2)

    @jax.jit
    def step(p, state, k):
        value, grad = jax.value_and_grad(loss)(p, jax.random.randint(k, (FIT_BATCH,), 0, rho.size))
        updates, state = opt.update(grad, state, p)
        return optax.apply_updates(p, updates), state, value

    state = opt.init(params)
    for k in track(jax.random.split(key, steps), description="fit to the series"):
        params, state, _ = step(params, state, k)
    return eqx.combine(params, static)


def card_errors(emu: PINNEmulator) -> dict:
    """The card grid's median, p95 and max error over every species, and for each species the
    same with where its max sits and its max per radius."""
    runs = {sp: relative_errors(emu, species=sp) for sp in emu.problem.species}
    pooled = summarise(np.stack([res["rel"] for res in runs.values()]))
    for sp, res in runs.items():
        worst = where_largest([res])
        pooled[sp] = dict(median_rel_err=res["median_rel_err"], p95_rel_err=res["p95_rel_err"],
                          **{k: worst[k] for k in ("max_rel_err", "r_kpc", "z_kpc", "E_GeV", "max_by_radius")})
    return pooled


def pinn_losses(emu: PINNEmulator, pts) -> dict:
    """Mean squared scaled residual of ``emu``'s network on ``pts``, under each weighting."""
    return {w: float(jnp.mean(scaled_residuals(emu.model, emu.problem, pts, 1.0, weighting=w) ** 2))
            for w in WEIGHTINGS}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifact", type=Path, help="a fixed-parameter PINN artifact")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--fit-steps", type=int, default=20000)
    ap.add_argument("--lbfgs", type=int, default=600, help="L-BFGS iterations on the PINN loss from the fit")
    ap.add_argument("--chunk", type=int, default=300, help="iterations between evaluations (a new point set each)")
    ap.add_argument("--weighting", default="amplitude", choices=WEIGHTINGS, help="the L-BFGS phase's weighting")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    emu = PINNEmulator.load(args.artifact)
    if emu.problem.names:
        raise ConfigurationError(f"{args.artifact} is conditional on {list(emu.problem.names)}; the capacity "
                                 "check takes a fixed-parameter PINN (the series at one parameter point)")
    if args.chunk < 1 or args.lbfgs < 0 or args.lbfgs % args.chunk:
        raise ConfigurationError(f"--lbfgs {args.lbfgs} must be >= 0 and a multiple of --chunk {args.chunk} >= 1")
    k_fit, k_pts = jax.random.split(jax.random.key(args.seed))
    pts = sample_points(k_pts, emu.problem, 1024, 8)
    summary = dict(artifact=str(args.artifact), fit_steps=args.fit_steps, weighting=args.weighting,
                   artifact_errors=card_errors(emu), artifact_loss=pinn_losses(emu, pts))
    fitted = PINNEmulator(emu.problem, fit_to_series(emu, args.fit_steps, k_fit), emu.arch, emu.card)
    summary.update(fit_errors=card_errors(fitted), fit_loss=pinn_losses(fitted, pts), resumed=[])
    validation = {k: summary["fit_errors"][k] for k in ("median_rel_err", "p95_rel_err", "max_rel_err")}
    fitted.card = replace(emu.card, name=f"{emu.card.name}_fit_to_series",
                          metrics=dict(fit_steps=args.fit_steps, validation=validation),
                          notes=f"{args.artifact}'s network fitted to the exact series by pinn_capacity.py: a diagnostic, not a PINN")
    fitted.save(args.out / "fit", overwrite=True)
    write_summary = lambda: (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    write_summary()
    print(json.dumps({k: summary[k] for k in ("artifact_errors", "artifact_loss", "fit_errors", "fit_loss")}))
    train = json.loads((args.artifact / "spec.json").read_text())["train"]
    trainer = PINNTrainer(emu.problem, replace(TrainConfig(**train), lbfgs_weighting=args.weighting),
                          emu.arch, model=fitted.model)
    for done in range(args.chunk, args.lbfgs + 1, args.chunk):
        trainer.refine_lbfgs(args.chunk, progress=True)
        fitted.model = trainer.model
        summary["resumed"].append(dict(iterations=done, loss=trainer.history[-1]["loss"], **card_errors(fitted)))
        write_summary()
        print(json.dumps(summary["resumed"][-1]))


if __name__ == "__main__":
    main()
