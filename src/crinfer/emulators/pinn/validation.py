"""Held-out comparison of a PINN with the exact reference series (the acceptance metrics).

The validation set is the outer grid of ``n_r`` radii in [0, 0.95 R_h], ``n_z`` heights in
[0, 0.95 z_h] (denser at the disc) and ``n_E`` energies log-spaced over [E_min, E_max]; psi is
even in z, so z >= 0 covers |z| <= 0.95 z_h.
"""
from __future__ import annotations

import jax
import numpy as np

from .emulator import PINNEmulator
from .reference import reference_psi


def validation_grid(z_h: float, R_h: float, E_min: float, E_max: float, n_r=20, n_z=16, n_E=29):
    """(r, z, E) 1-D arrays [kpc, kpc, GeV] of the validation grid."""
    r = np.linspace(0.0, 0.95 * R_h, n_r)
    z = 0.95 * z_h * np.linspace(0.0, 1.0, n_z) ** 2
    E = np.logspace(np.log10(E_min), np.log10(E_max), n_E)
    return r, z, E


def relative_errors(emu: PINNEmulator, theta=(), grid=None, species: str | None = None) -> dict:
    """|psi_PINN / psi_ref - 1| of ``species`` on the validation grid for physical ``theta``;
    returns the grid, both fields (shape (n_r, n_z, n_E)) and the summary numbers."""
    pb = emu.problem
    theta = np.asarray(theta, dtype=float).reshape(len(pb.names))
    z_h = float(pb.values(theta)["z_h"])
    r, z, E = grid if grid is not None else validation_grid(z_h, pb.R_h, pb.E_min, pb.E_max)
    ref = reference_psi(pb, theta, r, z, E, species=emu.species_index(species))
    R, Z, EE = np.meshgrid(r, z, E, indexing="ij")
    pinn = np.asarray(emu.psi(R, Z, EE, theta if pb.names else None, species), dtype=float)
    rel = np.abs(pinn / ref - 1.0)
    return dict(r=r, z=z, E=E, reference=ref, pinn=pinn, rel=rel, **summarise(rel))


def summarise(rel) -> dict:
    rel = np.asarray(rel, dtype=float)
    return dict(median_rel_err=float(np.median(rel)), p95_rel_err=float(np.percentile(rel, 95)),
                max_rel_err=float(rel.max()))


def where_largest(runs: list[dict]) -> dict:
    """Where the largest error of the validation grids ``runs`` (``relative_errors`` outputs,
    one per parameter point) sits: its value, r [kpc], z [kpc], E [GeV] and parameter-point
    index, and the largest error at each grid radius over all heights, energies and points."""
    per_radius = np.array([p["rel"].max(axis=(1, 2)) for p in runs])      # (points, radii)
    worst = int(np.argmax(per_radius.max(axis=1)))
    res = runs[worst]
    i, j, k = np.unravel_index(np.argmax(res["rel"]), res["rel"].shape)
    return dict(max_rel_err=float(res["rel"][i, j, k]), r_kpc=float(res["r"][i]), z_kpc=float(res["z"][j]),
                E_GeV=float(res["E"][k]), point=worst, radii_kpc=[float(r) for r in res["r"]],
                max_by_radius=[float(m) for m in per_radius.max(axis=0)])


def heldout_parameters(emu: PINNEmulator, n: int, seed: int = 2026) -> np.ndarray:
    """(n, P) parameter points from a Latin hypercube over the training domain shrunk by 5% per
    side (none of them a training point: collocation draws parameters uniformly at random)."""
    params = emu.problem.params
    theta = np.asarray(params.latin_hypercube(jax.random.key(seed), n))
    lo, hi = np.asarray(params.low), np.asarray(params.high)
    return lo + 0.05 * (hi - lo) + 0.9 * (theta - lo)


def validate(emu: PINNEmulator, n_heldout: int = 5) -> dict:
    """The acceptance metrics over the validation grid: for a fixed-parameter PINN on its one
    problem, for a conditional one pooled over ``n_heldout`` held-out parameter points; for
    several species pooled over them, with each species' own under its name."""
    pb = emu.problem
    thetas = heldout_parameters(emu, n_heldout) if pb.names else [()]
    rels = {sp: np.stack([relative_errors(emu, th, species=sp)["rel"] for th in thetas]) for sp in pb.species}
    out = summarise(np.stack(list(rels.values())))
    if pb.names:
        out["n_heldout"] = n_heldout
    if len(pb.species) > 1:
        out.update({sp: summarise(rel) for sp, rel in rels.items()})
    return out
