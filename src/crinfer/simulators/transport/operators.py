"""Finite-volume operators of the steady-state transport equation.

Spatial part (second order): on the node-centred grid of :class:`TransportGrid`,

    (L psi)_ij = 1/V_i [ r_{i+1/2} D_{i+1/2,j} (psi_{i+1,j} - psi_ij)
                        - r_{i-1/2} D_{i-1/2,j} (psi_ij - psi_{i-1,j}) ] / dr
               + [ D_{i,j+1/2} (psi_{i,j+1} - psi_ij) - D_{i,j-1/2} (psi_ij - psi_{i,j-1}) ] / dz^2,

with V_0 = dr^2/8, V_i = r_i dr, r_{-1/2} = 0 (regular axis: 4 D (psi_1 - psi_0)/dr^2 there),
face coefficients the mean of the two nodes, and psi = 0 on r = R_h and |z| = z_h. For
constant D this is the textbook central stencil psi'' + psi'/r away from the axis.

Energy part: the particle flux through an energy face, upward positive, is
F = -b psi (continuous losses, b = -dE/dt) - Dpp-term (reacceleration); the cell balance is
0 = Q + L psi - (F_{k+1/2} - F_{k-1/2}) / Delta E_k. See :func:`loss_march_coefficients` and
:func:`reacceleration_conductances` for the face reconstructions.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import eigh_tridiagonal

from .grid import TransportGrid


def diffusion_matrix(grid: TransportGrid, D: np.ndarray | float) -> sp.csr_matrix:
    """Sparse L = div(D grad) on the interior nodes (row-major (i, j) order) [1/Myr].

    Args:
        D: diffusion coefficient [kpc^2/Myr] at the nodes, shape (n_r, n_z), or a scalar.
    """
    D = np.broadcast_to(np.asarray(D, dtype=float), (grid.n_r, grid.n_z))
    nr, nz = grid.interior_shape
    dr, dz = grid.dr, grid.dz
    Dr = 0.5 * (D[:-1, :] + D[1:, :])[:, 1:-1]          # faces i+1/2, i = 0..n_r-2
    Dz = 0.5 * (D[:, :-1] + D[:, 1:])[:-1, :]           # faces j+1/2, j = 0..n_z-2
    vol = grid.r_volumes[:-1, None]
    rf = grid.r_faces[:-1, None]
    up_r = rf * Dr / (dr * vol)                          # coupling (i, j) -> (i+1, j)
    dn_r = np.zeros_like(up_r)
    dn_r[1:] = (rf[:-1] * Dr[:-1]) / (dr * vol[1:])      # coupling (i, j) -> (i-1, j)
    up_z = Dz[:, 1:] / dz**2                             # (i, j) -> (i, j+1), j = 1..n_z-2
    dn_z = Dz[:, :-1] / dz**2                            # (i, j) -> (i, j-1)
    diag = -(up_r + dn_r + up_z + dn_z)
    idx = np.arange(nr * nz).reshape(nr, nz)
    rows, cols, vals = [idx.ravel()], [idx.ravel()], [diag.ravel()]
    for coef, sl_from, sl_to in (
        (up_r, np.s_[:-1, :], np.s_[1:, :]),
        (dn_r, np.s_[1:, :], np.s_[:-1, :]),
        (up_z, np.s_[:, :-1], np.s_[:, 1:]),
        (dn_z, np.s_[:, 1:], np.s_[:, :-1]),
    ):
        rows.append(idx[sl_from].ravel())
        cols.append(idx[sl_to].ravel())
        vals.append(coef[sl_from].ravel())
    n = nr * nz
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )


def convection_matrix(grid: TransportGrid, v_faces: np.ndarray, D: np.ndarray) -> sp.csr_matrix:
    """Sparse -d/dz (V psi) [1/Myr] with Spalding's hybrid face values.

    Central (second order) where the face Peclet number |V| dz / D <= 2, upwind (first order,
    monotone) where it is larger. ``v_faces``: V_z [kpc/Myr] on the n_z - 1 faces z_{j+1/2};
    ``D``: diffusion coefficient at the nodes (n_r, n_z) [kpc^2/Myr].
    """
    nr, nz = grid.interior_shape
    dz = grid.dz
    v = np.broadcast_to(np.asarray(v_faces, dtype=float), (grid.n_z - 1,))
    D = np.broadcast_to(np.asarray(D, dtype=float), (grid.n_r, grid.n_z))
    Dz = 0.5 * (D[:, :-1] + D[:, 1:])[:-1, :]                       # (nr, n_z-1)
    peclet = np.abs(v)[None, :] * dz / np.maximum(Dz, 1e-300)
    central = peclet <= 2.0
    # weight of the lower node j and upper node j+1 in the face value at j+1/2
    w_lo = np.where(central, 0.5, (v[None, :] > 0).astype(float))
    w_hi = 1.0 - w_lo
    flux_lo = v[None, :] * w_lo                                      # F_{j+1/2} = flux_lo psi_j + flux_hi psi_{j+1}
    flux_hi = v[None, :] * w_hi
    # cell j (1..n_z-2): -(F_{j+1/2} - F_{j-1/2}) / dz
    diag = -(flux_lo[:, 1:] - flux_hi[:, :-1]) / dz                  # own-node weights
    to_up = -flux_hi[:, 1:-1] / dz                                   # (i, j) -> (i, j+1), j = 1..n_z-3
    to_dn = flux_lo[:, 1:-1] / dz                                    # (i, j) -> (i, j-1), j = 2..n_z-2
    idx = np.arange(nr * nz).reshape(nr, nz)
    rows = [idx.ravel(), idx[:, :-1].ravel(), idx[:, 1:].ravel()]
    cols = [idx.ravel(), idx[:, 1:].ravel(), idx[:, :-1].ravel()]
    vals = [diag.ravel(), to_up.ravel(), to_dn.ravel()]
    n = nr * nz
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )


def wind_divergence(grid: TransportGrid, v_faces: np.ndarray) -> np.ndarray:
    """Cell average of dV_z/dz [1/Myr] on the interior z nodes (n_z - 2,)."""
    v = np.asarray(v_faces, dtype=float)
    return (v[1:] - v[:-1]) / grid.dz


def radial_eigensystem(grid: TransportGrid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigen-decomposition of the radial operator with D = 1 on the interior r nodes.

    L_r = W^-1 K with W = diag(V_i) and K symmetric tridiagonal, so
    L_r = W^-1/2 Q diag(lam) Q^T W^1/2. Returns (lam [1/kpc^2], Q, sqrt(W)).
    """
    nr = grid.n_r - 1
    dr = grid.dr
    vol = grid.r_volumes[:nr]
    rf = grid.r_faces[:nr]
    off = rf[:-1] / dr                                   # K_{i,i+1}
    diag = -(rf + np.concatenate([[0.0], rf[:-1]])) / dr
    sw = np.sqrt(vol)
    lam, Q = eigh_tridiagonal(diag / vol, off / (sw[:-1] * sw[1:]))
    return lam, Q, sw


def vertical_eigenvalues(grid: TransportGrid) -> np.ndarray:
    """Eigenvalues [1/kpc^2] of the 1-D Dirichlet Laplacian on the interior z nodes (D = 1).

    The eigenvectors are the DST-I basis sin(pi n j / (n_z - 1)).
    """
    m = grid.n_z - 2
    n = np.arange(1, m + 1)
    return -(4.0 / grid.dz**2) * np.sin(np.pi * n / (2.0 * (m + 1))) ** 2


def loss_march_coefficients(n_E: int, scheme: str = "upwind2") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients of the loss term for marching down in energy.

    Losses move particles down in energy, so the flux G = b psi through a face is taken from
    the cells above it. ``"upwind2"``: linear extrapolation in ln E from the two cells above,
    G_{k+1/2} = 3/2 u_{k+1} - 1/2 u_{k+2} (u = b psi); above the top cell u is mirrored so that
    u = 0 on the top face E_max = E_{K-1} f^1/2 (nothing above it). This is BDF2 in ln E
    (second order). ``"upwind1"``: G_{k+1/2} = u_{k+1}, G_{K-1/2} = 0 (first order).

    Returns (c_self, c1, c2), each (n_E,): the cell balance reads
    (c_self_k u_k - c1_k u_{k+1} + c2_k u_{k+2}) / Delta E_k - L psi_k = Q_k.
    """
    c_self, c1, c2 = np.empty(n_E), np.empty(n_E), np.empty(n_E)
    if scheme == "upwind2":
        c_self[:], c1[:], c2[:] = 1.5, 2.0, 0.5
        c_self[-1], c1[-1], c2[-1] = 2.0, 0.0, 0.0
        c1[-2], c2[-2] = 2.5, 0.0
    elif scheme == "upwind1":
        c_self[:], c1[:], c2[:] = 1.0, 1.0, 0.0
        c1[-1] = 0.0
    else:
        raise ValueError(f"energy scheme {scheme!r} is not one of ('upwind2', 'upwind1')")
    return c_self, c1, c2


def reacceleration_conductances(grid: TransportGrid, rate: np.ndarray, mass: float):
    """Face conductances of the momentum-diffusion flux in energy.

    Flux (upward) Phi = -p^2 Dpp beta d/dE (beta psi / p^2), with p and beta per nucleon for
    mass ``mass`` [GeV] and ``rate`` = Dpp/p^2 [1/Myr] at the nodes, shape (n_E,) or
    (..., n_E). Central differences on the faces; zero flux through the bottom face; psi = 0
    on the top face (mirror node above the top cell).

    Returns (a, w): a of shape (..., n_E) is the conductance of face k+1/2 (the last one
    towards the mirror node) and w = beta/p^2 at the nodes, so that
    Phi_{k+1/2} = -a_k (w_{k+1} psi_{k+1} - w_k psi_k).
    """
    E = grid.energies
    f = np.exp(grid.log_step)
    Ef = grid.E_faces[1:]                                    # faces k+1/2, k = 0..K-1
    p_f = np.sqrt(Ef * (Ef + 2 * mass))
    beta_f = p_f / (Ef + mass)
    p = np.sqrt(E * (E + 2 * mass))
    w = (p / (E + mass)) / p**2
    rate = np.asarray(rate, dtype=float)
    rate_f = np.empty_like(rate)
    rate_f[..., :-1] = np.sqrt(rate[..., :-1] * rate[..., 1:])
    last, below = rate[..., -1], rate[..., -2]
    ratio = np.divide(last, below, out=np.ones_like(last), where=below > 0)
    rate_f[..., -1] = last * np.sqrt(ratio)                  # power-law extrapolation by half a step
    dE = np.concatenate([np.diff(E), [E[-1] * (f - 1.0)]])
    a = rate_f * p_f**4 * beta_f / dE
    return a, w
