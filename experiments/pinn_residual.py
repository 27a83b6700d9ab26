"""Where a trained PINN misses its PDE: the relative residual R/u beside its error against the series.

    python experiments/pinn_residual.py emulators/pinn_b_ic          # ~1 min on one CPU core

For a fixed-parameter artifact (first species) it prints, at r = 8, 16, 19 kpc, z = 1, 3 kpc and
E = 0.1-1e3 GeV: the PINN's error against the exact series, R/u by autodiff (the residual over u,
not weighted as the loss weighs it), the same by central finite differences of the PINN's psi, and
the series' own finite-difference residual (its floor: a smooth solution's stencil error). Then the
power spectrum of R/u along z at r = 8.5 and 16 kpc, 10 GeV, by bands of cycles per kpc: ripples
(1-4 per kpc) that dominate the loss without moving psi, against the smooth part that does.
"""
from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from crinfer.emulators.pinn.emulator import PINNEmulator
from crinfer.emulators.pinn.reference import coefficients, parameter_values, reference_psi, source_profiles
from crinfer.emulators.pinn.residual import residual, u_value

H_KPC, H_LNE = 0.05, 0.01            # finite-difference steps in r, z [kpc] and in ln E
STENCIL = np.array([-1.0, 0.0, 1.0])
RADII, HEIGHTS, ENERGIES = (8.0, 16.0, 19.0), (1.0, 3.0), (0.102, 1.0, 10.0, 1000.0)   # kpc, kpc, GeV
# (0.102 GeV: the stencil stays above E_min)
BANDS = [(0.0, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (4.0, 64.0)]   # cycles per kpc


def fd_relative_residual(psi, r0, z0, E0, terms, z_h):
    """(D lap psi + d(b psi)/dE + Q f g) / (D psi / z_h^2 + b psi / E) at the centre of a 3x3x3
    stencil ``psi`` [r, z, E] around (r0, z0, E0); the denominator is the loss's size a^2 + kappa.
    ``terms``: the float64 functions (Q, D, b, f, g) of :func:`pde_terms`."""
    Q, D, b, f, g = terms
    E = E0 * np.exp(H_LNE * STENCIL)
    c = psi[1, 1, 1]
    lap = ((psi[2, 1, 1] - 2 * c + psi[0, 1, 1]) / H_KPC**2 + (psi[2, 1, 1] - psi[0, 1, 1]) / (2 * H_KPC * r0)
           + (psi[1, 2, 1] - 2 * c + psi[1, 0, 1]) / H_KPC**2)
    bpsi = b(E) * psi[1, 1, :]
    one = lambda fn, x: float(fn(np.array([x]))[0])
    res = one(D, E0) * lap + (bpsi[2] - bpsi[0]) / (E[2] - E[0]) + one(Q, E0) * one(f, r0) * one(g, z0)
    return res / (one(D, E0) * c / z_h**2 + one(b, E0) * c / E0)


def pde_terms(pb, v):
    """Q(E), D(E), b(E) and the source profiles f(r), g(z) of the first species, float64 NumPy."""
    return (*coefficients(pb, v), *source_profiles(pb))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifact")
    args = ap.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    emu = PINNEmulator.load(args.artifact, guard="off")
    pb, model = emu.problem, emu.model
    if pb.names:
        raise SystemExit(f"{args.artifact} is conditional on {pb.names}; this diagnostic takes a fixed-parameter PINN")
    v = parameter_values(pb, np.zeros(0))
    point = lambda r, z, E: jnp.array([r / pb.R_h, z / v["z_h"], float(pb.to_x(np.log(E)))])
    terms = pde_terms(pb, v)
    r_over_u = jax.jit(jax.vmap(lambda y: residual(model, pb, y)[0] / u_value(model, pb, y)[0]))

    # every stencil is a 3x3x3 block of one outer grid: one series and one PINN evaluation
    r = np.concatenate([r0 + H_KPC * STENCIL for r0 in RADII])
    z = np.concatenate([z0 + H_KPC * STENCIL for z0 in HEIGHTS])
    E = np.concatenate([E0 * np.exp(H_LNE * STENCIL) for E0 in ENERGIES])
    series = reference_psi(pb, np.zeros(0), r, z, E)
    pinn = np.asarray(emu.psi(*np.meshgrid(r, z, E, indexing="ij")), dtype=float)
    print(f"{'r kpc':>6} {'z kpc':>6} {'E GeV':>8} {'error':>8} {'R/u':>9} {'R/u (FD)':>9} {'series (FD)':>11}")
    for i, r0 in enumerate(RADII):
        for j, z0 in enumerate(HEIGHTS):
            for k, E0 in enumerate(ENERGIES):
                block = np.s_[3 * i:3 * i + 3, 3 * j:3 * j + 3, 3 * k:3 * k + 3]
                ps, pp = series[block], pinn[block]
                autodiff = float(r_over_u(point(r0, z0, E0)[None])[0])
                print(f"{r0:6.1f} {z0:6.1f} {E0:8.3g} {pp[1, 1, 1] / ps[1, 1, 1] - 1:+8.4f} {autodiff:+9.2e} "
                      f"{fd_relative_residual(pp, r0, z0, E0, terms, v['z_h']):+9.2e} "
                      f"{fd_relative_residual(ps, r0, z0, E0, terms, v['z_h']):+11.2e}")

    z = np.linspace(0.05, 0.95, 384) * v["z_h"]
    cycles = np.fft.rfftfreq(len(z), d=z[1] - z[0])
    print("\nR/u along z (0.05-0.95 z_h) at 10 GeV: rms, mean, power fraction per band of cycles/kpc")
    for r0 in (8.5, 16.0):
        ru = np.asarray(r_over_u(jnp.stack([point(r0, zz, 10.0) for zz in z])))
        power = np.abs(np.fft.rfft(ru - ru.mean())) ** 2
        share = ", ".join(f"{lo:g}-{hi:g}: {power[(cycles >= lo) & (cycles < hi)].sum() / power.sum():.2f}"
                          for lo, hi in BANDS)
        print(f"  r = {r0:4.1f} kpc: rms {np.sqrt(np.mean(ru**2)):.3f}, mean {ru.mean():+.3f}; {share}")


if __name__ == "__main__":
    main()
