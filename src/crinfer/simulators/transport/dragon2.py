"""DRAGON2 reference for the benchmark problems (a), (b), (c): its shipped outputs, and its own
discretisation solved directly.

Data (package data, ``crinfer/data/files/peers/PROVENANCE.md``): :func:`reference_runs` (Sun
spectra, slices, D, q, dp/dt of DRAGON2 runs), :func:`discrete_G` (its stencil's steady state),
:func:`timings` (DRAGON2's run costs).

Reconstructed from the description of DRAGON2 (commit cd588707) in the peers README
(``crinfer/data/files/peers/PROVENANCE.md``, section 3), not from its code:

* r stencil with constant D: row i = 0 is 2 D (N_1 - N_0)/dr^2 (the regular axis form is
  4 D (N_1 - N_0)/dr^2); row i = 1 drops the +1/(2 r dr) part of the 1/r term on the outer
  neighbour, D [(N_2 - 2 N_1)/dr^2 + N_0/(2 dr^2)]; rows i >= 2 are central differences;
  z stencil central; N = 0 on r = R_h and |z| = z_h.
* losses: first-order upwind in momentum, dN_k/dt = (b_{k+1} N_{k+1} - b_k N_k)/(p_{k+1} - p_k),
  with the top bin's loss-out coefficient b_{K-1}/(p_{K-1} - p_{K-2}) and nothing from above.

DRAGON2 iterates towards the steady state of this stencil in pseudo-time; here it is solved
exactly (one sparse LU per energy, marching down). With ``axis_quirk=False`` the r stencil is
the textbook one (identical to crinfer's finite-volume operator for constant D).
"""
from __future__ import annotations

import csv
import json
from importlib import resources

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

_PEERS = "files/peers"


def _peer_file(name: str):
    return resources.files("crinfer.data").joinpath(f"{_PEERS}/{name}")


def reference_runs() -> dict:
    """{run: {key: array}} for the DRAGON2 runs in ``dragon2_reference.npz`` (e.g. ``"a_base"``).

    Keys: Ek_GeV, p_GeV, D_kpc2_per_Myr, q_spectral, density_sun, density_zeq0 (n_r, n_E),
    density_r8p5 (n_z, n_E), dpdt_GeV_per_Myr (b runs), meta (dict), plus the grid from meta.
    """
    with _peer_file("dragon2_reference.npz").open("rb") as fh:
        d = np.load(fh, allow_pickle=False)
        arrays = {k: d[k] for k in d.files}
    out = {}
    for run in arrays["runs"]:
        run = str(run)
        rec = {k[len(run) + 1:]: v for k, v in arrays.items() if k.startswith(run + "_")}
        rec["meta"] = json.loads(str(rec.pop("meta_json")))
        m = rec["meta"]
        rec["r_kpc"] = np.linspace(0.0, m["Rmax_kpc"], m["DimR"])
        rec["z_kpc"] = np.linspace(-m["L_kpc"], m["L_kpc"], m["DimZ"])
        out[run] = rec
    out["S_rz_41x81"] = arrays["S_rz_41x81"]
    return out


def discrete_G() -> dict:
    """{"dragonstencil"|"textbook": {"41x81"|"81x161": (r, z, G)}}: N = q/D G (README section 6)."""
    with _peer_file("dragon2_discrete_G.npz").open("rb") as fh:
        d = np.load(fh, allow_pickle=False)
        return {kind: {tag: (d[f"r_{tag}"], d[f"z_{tag}"], d[f"G_{kind}_{tag}"]) for tag in ("41x81", "81x161")}
                for kind in ("dragonstencil", "textbook")}


def timings() -> list[dict]:
    """DRAGON2's run costs: rows of ``dragon2_timings.csv`` (2 OpenMP threads)."""
    with _peer_file("dragon2_timings.csv").open("r") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for k in row:
            if k not in ("run", "case"):
                row[k] = float(row[k])
    return rows


def galprop_source(r: np.ndarray, z: np.ndarray) -> np.ndarray:
    """DRAGON2's ``SNR type="Galprop"`` S(r, z), 1 at (8.5, 0), 0 for r >= 15 kpc (README section 2)."""
    r, z = np.asarray(r)[:, None], np.asarray(z)[None, :]
    radial = np.where(r < 15.0, (r / 8.5) ** 1.25 * np.exp(-3.56 * (r - 8.5) / 8.5), 0.0)
    return radial * np.exp(-np.abs(z) / 0.2)


def dragon_laplacian(r: np.ndarray, z: np.ndarray, axis_quirk: bool = True) -> sp.csc_matrix:
    """DRAGON2's d2/dr2 + (1/r) d/dr + d2/dz2 (D = 1) on the unknown nodes (r < R_h, |z| < z_h)."""
    dr, dz = r[1] - r[0], z[1] - z[0]
    nr, nz = r.size - 1, z.size - 2
    lo = np.zeros(nr)
    hi = np.zeros(nr)
    diag = np.full(nr, -2.0 / dr**2)
    ri = r[1:nr]
    lo[1:] = 1.0 / dr**2 - 1.0 / (2 * ri * dr)
    hi[1:] = 1.0 / dr**2 + 1.0 / (2 * ri * dr)
    c0 = 2.0 if axis_quirk else 4.0
    diag[0], hi[0] = -c0 / dr**2, c0 / dr**2
    if axis_quirk:
        hi[1] = 1.0 / dr**2
    Lr = sp.diags([lo[1:], diag, hi[:-1]], [-1, 0, 1])
    Lz = sp.diags([np.ones(nz - 1), -2.0 * np.ones(nz), np.ones(nz - 1)], [-1, 0, 1]) / dz**2
    return (sp.kron(Lr, sp.eye(nz)) + sp.kron(sp.eye(nr), Lz)).tocsc()


def dragon_steady_state(r, z, p, D, q, S, dpdt=None, axis_quirk: bool = True) -> np.ndarray:
    """N(r, z, E) [GeV^-1 kpc^-3] of DRAGON2's stencil at its exact steady state.

    Args:
        r, z: node coordinates [kpc] (uniform, r from 0, z symmetric).
        p: momenta of the energy nodes [GeV/c], D: D(p) [kpc^2/Myr], q: q(p) per unit Ek,
            each (n_E,).
        S: spatial source (n_r, n_z).
        dpdt: b(p) = -dp/dt [GeV/Myr] (n_E,), or None for no losses.
    """
    L = dragon_laplacian(np.asarray(r), np.asarray(z), axis_quirk)
    S_int = np.asarray(S)[:-1, 1:-1].ravel()
    K = len(p)
    out = np.zeros((len(r), len(z), K))
    if dpdt is None:
        lu = spla.splu(L, permc_spec="MMD_AT_PLUS_A")
        G = -lu.solve(S_int)
        for k in range(K):
            out[:-1, 1:-1, k] = (q[k] / D[k] * G).reshape(len(r) - 1, len(z) - 2)
        return out
    dp = np.diff(p)
    out_coef = np.concatenate([dpdt[:-1] / dp, [dpdt[-2] / dp[-1]]])   # top bin copies the bin below
    eye = sp.eye(L.shape[0], format="csc")
    N_above = None
    for k in range(K - 1, -1, -1):
        rhs = q[k] * S_int
        if N_above is not None:
            rhs = rhs + dpdt[k + 1] / dp[k] * N_above
        A = (out_coef[k] * eye - D[k] * L).tocsc()
        N_above = spla.splu(A, permc_spec="MMD_AT_PLUS_A").solve(rhs)
        out[:-1, 1:-1, k] = N_above.reshape(len(r) - 1, len(z) - 2)
    return out
