"""Exact and semi-analytic solutions of the cylindrical transport problem (PHYSICS.md section 1).

Domain 0 <= r <= R_h, |z| <= z_h, psi = 0 on r = R_h and |z| = z_h, homogeneous D.

* :func:`bessel_thin_disc`: diffusion only, thin-disc source Q = 2 h q(r) delta(z):
  psi = sum_i J0(k_i r) h q_i / (D k_i) sinh(k_i (z_h - |z|)) / cosh(k_i z_h), k_i = zeta_i / R_h,
  q_i = 2 / (R_h^2 J1(zeta_i)^2) int_0^R_h r q(r) J0(k_i r) dr.
* :func:`poisson_series`: diffusion only, any separable source f(r) g(z) Q(E) (the same series
  with every mode's energy integral replaced by 1/mu_in).
* :func:`losses_series`: diffusion D(E) and spatially uniform losses b(E) = -dE/dt with a
  separable source S(r, z) Q(E) = f(r) g(z) Q(E) and nothing above E_max. With
  lambda(E) = int^E D/b dE' every Fourier-Bessel-sine mode decays independently in lambda:
  psi = 1/b(E) sum_in J0(k_i r) phi_n(z) f_i g_n int_E^E_max Q(E') exp(-mu_in [lambda(E') - lambda(E)]) dE',
  phi_n(z) = sin(n pi (z + z_h) / (2 z_h)), mu_in = k_i^2 + (n pi / (2 z_h))^2. The energy integral
  is done exactly per segment of a fine grid, with Q b / D linear in lambda on each segment (the
  Syrovatskii solution for b = b0 E^2 and D ~ E^delta).

Units: kpc, Myr, GeV; psi per GeV per kpc^3 for Q in GeV^-1 kpc^-3 Myr^-1.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.integrate import cumulative_simpson
from scipy.special import j0, j1, jn_zeros


def _gauss_legendre(a: float, b: float, n: int, order: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre rule: n // order panels of ``order`` nodes on [a, b]."""
    x, w = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(a, b, max(n // order, 1) + 1)
    half = 0.5 * np.diff(edges)[:, None]
    mid = 0.5 * (edges[1:] + edges[:-1])[:, None]
    return (mid + half * x).ravel(), (half * w).ravel()


def fourier_bessel_coefficients(f: Callable, R_h: float, n_modes: int, n_quad: int = 4000):
    """(k_i [1/kpc], f_i) with f(r) = sum_i f_i J0(k_i r) on [0, R_h] (Gauss-Legendre quadrature)."""
    zeta = jn_zeros(0, n_modes)
    k = zeta / R_h
    r, w = _gauss_legendre(0.0, R_h, n_quad)
    fr = np.asarray(f(r), dtype=float)
    coef = 2.0 / (R_h**2 * j1(zeta) ** 2) * (j0(np.outer(k, r)) @ (w * r * fr))
    return k, coef


def fourier_sine_coefficients(g: Callable, z_h: float, n_modes: int, n_quad: int = 4000):
    """(m_n [1/kpc], g_n) with g(z) = sum_n g_n sin(n pi (z + z_h) / (2 z_h)) on [-z_h, z_h].

    The quadrature is split at z = 0, where thin-disc profiles have a kink.
    """
    n = np.arange(1, n_modes + 1)
    m = n * np.pi / (2.0 * z_h)
    z1, w1 = _gauss_legendre(-z_h, 0.0, n_quad // 2)
    z2, w2 = _gauss_legendre(0.0, z_h, n_quad // 2)
    z, w = np.concatenate([z1, z2]), np.concatenate([w1, w2])
    gz = np.asarray(g(z), dtype=float)
    coef = (np.sin(np.outer(m, z + z_h)) @ (w * gz)) / z_h
    return m, coef


def bessel_thin_disc(r, z, q: Callable, D: float, R_h: float, z_h: float, h: float = 1.0,
                     n_modes: int = 400) -> np.ndarray:
    """Exact psi on the grid r x z (1-D arrays, kpc) for Q = 2 h q(r) delta(z) and constant D
    [kpc^2/Myr]; returns (len(r), len(z))."""
    r, z = np.atleast_1d(np.asarray(r, dtype=float)), np.atleast_1d(np.asarray(z, dtype=float))
    k, qi = fourier_bessel_coefficients(q, R_h, n_modes)
    az = np.abs(z)[None, :]
    kk = k[:, None]
    # sinh(k (z_h - |z|)) / cosh(k z_h), written without overflow
    ratio = (np.exp(-kk * az) - np.exp(-kk * (2 * z_h - az))) / (1.0 + np.exp(-2 * kk * z_h))
    return j0(np.outer(r, k)) @ ((h * qi / (D * k))[:, None] * ratio)


def poisson_series(r, z, f: Callable, g: Callable, R_h: float, z_h: float, n_bessel: int = 100,
                   n_sine: int = 400) -> np.ndarray:
    """F(r, z) [kpc^2] with lap F = -f(r) g(z), F = 0 on r = R_h and |z| = z_h (outer grid r x z).

    Diffusion only with D(E) uniform and a separable source f g Q(E): psi = Q(E) F / D(E).
    F = sum_in J0(k_i r) phi_n(z) f_i g_n / mu_in, the losses series without the energy integral.
    """
    r, z = np.atleast_1d(np.asarray(r, dtype=float)), np.atleast_1d(np.asarray(z, dtype=float))
    k, fi = fourier_bessel_coefficients(f, R_h, n_bessel)
    m, gn = fourier_sine_coefficients(g, z_h, n_sine)
    coef = fi[:, None] * gn[None, :] / (k[:, None] ** 2 + m[None, :] ** 2)
    return j0(np.outer(r, k)) @ coef @ np.sin(np.outer(m, z + z_h))


def _phi1(x):
    """(1 - exp(-x)) / x, stable for small x."""
    x = np.asarray(x, dtype=float)
    small = x < 1e-8
    xs = np.where(small, 1.0, x)
    return np.where(small, 1.0 - 0.5 * x, -np.expm1(-xs) / xs)


def _phi2(x):
    """(1 - exp(-x) (1 + x)) / x^2, stable for small x."""
    x = np.asarray(x, dtype=float)
    small = x < 1e-2
    xs = np.where(small, 1.0, x)
    series = 0.5 - x / 3.0 + x**2 / 8.0 - x**3 / 30.0 + x**4 / 144.0
    return np.where(small, series, (-np.expm1(-xs) - xs * np.exp(-xs)) / xs**2)


def mode_energy_integrals(mu, E, E_max: float, Q: Callable, D: Callable, b: Callable,
                          points_per_decade: int = 1000) -> np.ndarray:
    """I_m(E) = int_E^E_max Q(E') exp(-mu_m [lambda(E') - lambda(E)]) dE' for decay rates mu_m.

    lambda = int D/b dE on a fine log grid (Simpson); on each fine segment Q dE/dlambda = Q b/D is
    linear in lambda and the exponential is integrated exactly. Returns (len(E), len(mu)).
    """
    mu, E = np.asarray(mu, dtype=float), np.asarray(E, dtype=float)
    lo, hi = np.log(E.min()), np.log(E_max)
    n_fine = max(int(np.ceil((hi - lo) / np.log(10) * points_per_decade)), 8)
    fine = np.linspace(lo, hi, n_fine + 1)
    lnE = np.log(E)
    near = np.min(np.abs(fine[:, None] - lnE[None, :]), axis=1) < 1e-3 * (hi - lo) / n_fine
    x = np.union1d(fine[~near | (fine == hi)], lnE)
    Ef = np.exp(x)
    lam = cumulative_simpson(D(Ef) * Ef / b(Ef), x=x, initial=0.0)    # lambda(E) [kpc^2]
    gl = Q(Ef) * b(Ef) / D(Ef)                                          # Q dE/dlambda
    targets = {float(v): i for i, v in enumerate(np.log(E))}
    out = np.zeros((E.size, mu.size))
    I = np.zeros(mu.size)
    for j in range(x.size - 2, -1, -1):                                 # march down from E_max
        dl = lam[j + 1] - lam[j]
        xm = mu * dl
        slope = (gl[j + 1] - gl[j]) / dl
        I = np.exp(-xm) * I + dl * (gl[j] * _phi1(xm) + slope * dl * _phi2(xm))
        idx = targets.get(float(x[j]))
        if idx is not None:
            out[idx] = I
    return out


def losses_series(r, z, E, *, f: Callable, g: Callable, Q: Callable, D: Callable, b: Callable,
                  R_h: float, z_h: float, E_max: float, n_bessel: int = 60, n_sine: int = 200,
                  points_per_decade: int = 1000) -> np.ndarray:
    """Semi-analytic psi(r, z, E) with diffusion D(E) and uniform losses b(E) = -dE/dt.

    Args:
        r, z: 1-D arrays of positions [kpc] (the result is on the outer product grid).
        E: 1-D array of energies [GeV], all < E_max.
        f, g: radial and vertical source profiles (vectorised callables of r, z in kpc).
        Q, D, b: vectorised callables of E [GeV]: spectrum [GeV^-1 Myr^-1], D [kpc^2/Myr],
            b [GeV/Myr] > 0.
        E_max: nothing is injected above E_max [GeV]; psi(E_max) = 0.
        n_bessel, n_sine: numbers of radial and vertical modes.
        points_per_decade: resolution of the fine energy grid of the exact segment integrals.

    Returns psi of shape (len(r), len(z), len(E)).
    """
    r, z, E = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (r, z, E))
    if np.any(E >= E_max):
        raise ValueError(f"evaluation energies must lie below E_max = {E_max}")
    k, fi = fourier_bessel_coefficients(f, R_h, n_bessel)
    m, gn = fourier_sine_coefficients(g, z_h, n_sine)
    keep_n = np.abs(gn) > 1e-14 * np.abs(gn).max()
    m, gn = m[keep_n], gn[keep_n]
    mu = (k[:, None] ** 2 + m[None, :] ** 2).ravel()                 # (modes,)
    amp = (fi[:, None] * gn[None, :]).ravel()

    out_I = mode_energy_integrals(mu, E, E_max, Q, D, b, points_per_decade)
    Jr = j0(np.outer(r, k))                                              # (nr, nb)
    Phz = np.sin(np.outer(m, z + z_h))                                   # (ns, nz)
    C = (out_I * amp).reshape(E.size, k.size, m.size)                    # (nE, nb, ns)
    psi = np.einsum("ri,eis,sz->rze", Jr, C, Phz, optimize=True)
    return psi / b(E)[None, None, :]


def semidiscrete_losses(grid, S: np.ndarray, Q: Callable, D: Callable, b: Callable,
                        E_max: float | None = None, points_per_decade: int = 1000) -> np.ndarray:
    """The same losses problem with the solver's spatial discretisation but exact in energy.

    Expands S (n_r, n_z) in the eigenvectors of the solver's finite-volume operator (D = 1) and
    integrates each mode exactly in energy (:func:`mode_energy_integrals`). Comparing the solver
    with this isolates the error of the energy scheme. E_max defaults to the top energy face.
    Returns psi (n_r, n_z, n_E) on ``grid``.
    """
    from scipy.fft import dst

    from . import operators as ops

    lam_r, Qr, sw = ops.radial_eigensystem(grid)
    lam = -(lam_r[:, None] + ops.vertical_eigenvalues(grid)[None, :])          # mu >= 0
    S_hat = dst(Qr.T @ (sw[:, None] * grid.interior(np.asarray(S, dtype=float))), type=1, axis=1, norm="ortho")
    E = grid.energies
    E_max = grid.E_faces[-1] if E_max is None else E_max
    I = mode_energy_integrals(lam.ravel(), E, E_max, Q, D, b, points_per_decade)
    psi = np.zeros(grid.shape)
    for k in range(E.size):
        y = (S_hat * I[k].reshape(lam.shape)) / b(E[k])
        psi[:-1, 1:-1, k] = (Qr @ dst(y, type=1, axis=1, norm="ortho")) / sw[:, None]
    return psi
