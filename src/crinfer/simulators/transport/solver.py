"""Direct steady-state solver of the cylindrical transport equation (no pseudo-time stepping).

For every species the discrete system is A psi = Q with, per energy cell k,

    A_k psi = -L_k psi_k + (c_self u_k - c1 u_{k+1} + c2 u_{k+2}) / Delta E_k + R_k(psi),

u = b psi (losses, :func:`operators.loss_march_coefficients`), L_k the spatial operator
(:mod:`operators`) and R the momentum-diffusion term. Losses only couple a cell to the cells
above it, so without reacceleration the system is block triangular and is solved exactly by
marching down in energy, one spatial solve per energy. Spatial solves use

* ``modal``: when every coefficient is spatially uniform, L_k = D_k L0 and L0 is diagonalised
  once (the eigenvectors of the radial finite-volume operator times a DST-I in z), so each
  spatial solve is a division; exact up to round-off;
* ``sparse``: otherwise, a sparse LU (SuperLU) per energy -- one factorisation in all when the
  energy dependence is a scalar factor and there are no losses.

With reacceleration the energy cells couple both ways; the system is solved by GMRES,
preconditioned by the march itself (block Gauss-Seidel from the top), and the true residual
||Q - A psi|| / ||Q|| is checked against ``rtol``.
"""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.fft import dst

from crinfer.core.errors import ConfigurationError, CrinferError

from . import operators as ops
from .grid import TransportGrid
from .problem import SpeciesProblem
from .result import TransportResult

METHODS = ("auto", "modal", "sparse")
ENERGY_SCHEMES = ("upwind2", "upwind1")


class _ModalBackend:
    """Spatially uniform D_k: (shift - D_k L0)^-1 is a division in the eigenbasis of L0."""

    name = "modal"

    def __init__(self, grid: TransportGrid, D: np.ndarray):
        lam_r, self.Q, self.sw = ops.radial_eigensystem(grid)
        self.lam = lam_r[:, None] + ops.vertical_eigenvalues(grid)[None, :]
        self.QT = np.ascontiguousarray(self.Q.T)
        self.D = np.asarray(D, dtype=float)
        self.shape = grid.interior_shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Node values (n_r-1, n_z-2) -> modal coefficients."""
        return dst(self.QT @ (self.sw[:, None] * x), type=1, axis=1, norm="ortho")

    def inverse(self, y: np.ndarray) -> np.ndarray:
        return (self.Q @ dst(y, type=1, axis=1, norm="ortho")) / self.sw[:, None]

    def apply(self, k: int, y: np.ndarray) -> np.ndarray:
        return self.D[k] * self.lam * y

    def solve(self, k: int, shift, y: np.ndarray) -> np.ndarray:
        return y / (shift - self.D[k] * self.lam)


class _SparseBackend:
    """General coefficients: sparse spatial matrices and SuperLU factorisations."""

    name = "sparse"

    def __init__(self, grid: TransportGrid, problem: SpeciesProblem, cache: bool):
        self.grid = grid
        self.shape = (grid.n_interior,)
        self.cache = cache
        self._lu: dict[int, object] = {}
        self._L: dict[int, sp.csr_matrix] = {}
        D = np.asarray(problem.diffusion, dtype=float)
        self.separable = D.ndim == 1
        if self.separable:
            self.D_E = D
            self.profile = (np.ones((grid.n_r, grid.n_z)) if problem.diffusion_profile is None
                            else np.asarray(problem.diffusion_profile, dtype=float))
            self.L_profile = ops.diffusion_matrix(grid, self.profile).tocsc()
            self._lu_profile = None
        else:
            self.D_full = D
        self.v_faces = None
        if problem.wind is not None:
            self.v_faces = np.asarray(problem.wind(grid.z[:-1] + 0.5 * grid.dz), dtype=float)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x).ravel()

    def inverse(self, y: np.ndarray) -> np.ndarray:
        return y.reshape(self.grid.interior_shape)

    def D_nodes(self, k: int) -> np.ndarray:
        return self.D_E[k] * self.profile if self.separable else self.D_full[:, :, k]

    def matrix(self, k: int) -> sp.csr_matrix:
        """L_k: diffusion (+ wind) on the interior nodes (cached when ``cache``)."""
        L = self._L.get(k)
        if L is None:
            L = self.D_E[k] * self.L_profile if self.separable else ops.diffusion_matrix(self.grid, self.D_full[:, :, k])
            if self.v_faces is not None:
                L = (L + ops.convection_matrix(self.grid, self.v_faces, self.D_nodes(k))).tocsr()
            if self.cache:
                self._L[k] = L
        return L

    def apply(self, k: int, y: np.ndarray) -> np.ndarray:
        if self.separable and self.v_faces is None:
            return self.D_E[k] * (self.L_profile @ y)
        return self.matrix(k) @ y

    def solve(self, k: int, shift, y: np.ndarray) -> np.ndarray:
        if self.separable and self.v_faces is None and np.isscalar(shift) and shift == 0:
            if self._lu_profile is None:
                self._lu_profile = spla.splu(self.L_profile, permc_spec="MMD_AT_PLUS_A")
            return -self._lu_profile.solve(y) / self.D_E[k]
        lu = self._lu.get(k)
        if lu is None:
            shift = np.broadcast_to(np.asarray(shift, dtype=float), self.shape)
            lu = spla.splu((sp.diags(shift) - self.matrix(k)).tocsc(), permc_spec="MMD_AT_PLUS_A")
            if self.cache:
                self._lu[k] = lu
        return lu.solve(y)


class _Reacceleration:
    """Momentum-diffusion couplings of cell k to k-1 and k+1 (see operators)."""

    def __init__(self, grid: TransportGrid, rate: np.ndarray, mass: float, interior: bool):
        rate = np.asarray(rate, dtype=float)
        if rate.ndim == 3:
            rate = grid.interior(rate).reshape(grid.n_interior, grid.n_E) if interior else rate
        a, w = ops.reacceleration_conductances(grid, rate, mass)
        dE = grid.E_widths
        a_lo = np.concatenate([np.zeros(a.shape[:-1] + (1,)), a[..., :-1]], axis=-1)
        a_top = a.copy()
        a_top[..., -1] *= 2.0                               # psi = 0 on the top face (mirror node)
        self.diag = (a_top + a_lo) * w / dE
        self.up = a[..., :-1] * w[1:] / dE[:-1]              # weight of psi_{k+1} in cell k
        self.down = a_lo[..., 1:] * w[:-1] / dE[1:]          # weight of psi_{k-1} in cell k

    def at(self, arr, k):
        return arr[..., k]


def _loss_rates(grid: TransportGrid, problem: SpeciesProblem, backend) -> list:
    """b_k per energy cell: a scalar (uniform) or an interior array (n_int,)."""
    K = grid.n_E
    b = problem.loss_rate
    if b is None:
        rates = [0.0] * K
    elif np.ndim(b) == 1:
        rates = [float(x) for x in b]
    else:
        rates = [grid.interior(np.asarray(b)[:, :, k]).ravel() for k in range(K)]
    if problem.wind is not None:
        div = ops.wind_divergence(grid, backend.v_faces)                # (n_z - 2,)
        E, m = grid.energies, problem.mass
        beta_p = E * (E + 2 * m) / (E + m)                               # beta p per nucleon [GeV]
        div_nodes = np.broadcast_to(div[None, :], grid.interior_shape).ravel()
        rates = [rates[k] + beta_p[k] / 3.0 * div_nodes for k in range(K)]
    return rates


class _System:
    """The discrete operator of one species with a chosen spatial backend."""

    def __init__(self, grid, problem, backend, scheme):
        self.grid, self.problem, self.backend = grid, problem, backend
        self.K = grid.n_E
        self.dE = grid.E_widths
        self.c_self, self.c1, self.c2 = ops.loss_march_coefficients(self.K, scheme)
        self.b = _loss_rates(grid, problem, backend)
        self.reacc = None
        if problem.reacceleration_rate is not None:
            self.reacc = _Reacceleration(grid, problem.reacceleration_rate, problem.mass,
                                         interior=backend.name == "sparse")
        self._S_hat = None
        if problem.separable_source:
            self._S_hat = backend.forward(grid.interior(np.asarray(problem.source, dtype=float)))

    def rhs(self, k: int) -> np.ndarray:
        if self._S_hat is not None:
            return self._S_hat * self.problem.source_spectrum[k]
        return self.backend.forward(self.grid.interior(np.asarray(self.problem.source[:, :, k], dtype=float)))

    def march(self, rhs_at, emit) -> None:
        """Solve the block lower-triangular part (losses; reacceleration from above) exactly."""
        be, r_ = self.backend, self.reacc
        u1 = u2 = psi1 = None
        for k in range(self.K - 1, -1, -1):
            r = rhs_at(k)
            if u1 is not None and self.c1[k]:
                r = r + self.c1[k] / self.dE[k] * u1
                if u2 is not None and self.c2[k]:
                    r = r - self.c2[k] / self.dE[k] * u2
            shift = self.c_self[k] * self.b[k] / self.dE[k]
            if r_ is not None:
                shift = shift + r_.at(r_.diag, k)
                if psi1 is not None:
                    r = r + r_.at(r_.up, k) * psi1
            psi = be.solve(k, shift, r)
            emit(k, psi)
            u2, u1, psi1 = u1, self.b[k] * psi, psi

    def apply(self, X: np.ndarray) -> np.ndarray:
        """A X for X of shape (K, *backend.shape)."""
        be, K = self.backend, self.K
        U = np.stack([self.b[k] * X[k] for k in range(K)])
        Y = np.empty_like(X)
        for k in range(K):
            y = -be.apply(k, X[k]) + self.c_self[k] / self.dE[k] * U[k]
            if k + 1 < K:
                y = y - self.c1[k] / self.dE[k] * U[k + 1]
            if k + 2 < K:
                y = y + self.c2[k] / self.dE[k] * U[k + 2]
            if self.reacc is not None:
                r_ = self.reacc
                y = y + r_.at(r_.diag, k) * X[k]
                if k + 1 < K:
                    y = y - r_.at(r_.up, k) * X[k + 1]
                if k >= 1:
                    y = y - r_.at(r_.down, k - 1) * X[k - 1]
            Y[k] = y
        return Y


def _solve_species(grid, problem, method, scheme, rtol, maxiter, verify):
    uniform = problem.spatially_uniform()
    if method == "modal" and not uniform:
        raise ConfigurationError(
            f"species {problem.name!r}: method='modal' needs spatially uniform D, b and Dpp and "
            "no wind; use method='sparse' or 'auto'"
        )
    use_modal = method == "modal" or (method == "auto" and uniform)
    if use_modal:
        backend = _ModalBackend(grid, problem.diffusion)
    else:
        backend = _SparseBackend(grid, problem, cache=problem.reacceleration_rate is not None)
    system = _System(grid, problem, backend, scheme)
    K = grid.n_E
    psi = np.zeros(grid.shape)
    info = {"backend": backend.name, "energy_scheme": scheme}
    t0 = time.perf_counter()
    if system.reacc is None:
        def emit(k, x):
            psi[:-1, 1:-1, k] = backend.inverse(x)

        system.march(system.rhs, emit)
        info["iterations"] = 0
    else:
        hat = _gmres(system, rtol, maxiter, info)
        for k in range(K):
            psi[:-1, 1:-1, k] = backend.inverse(hat[k])
    info["solve_seconds"] = time.perf_counter() - t0
    if verify:
        R = residual(grid, problem, psi, scheme)
        Q = np.stack([problem.source_at(k)[:-1, 1:-1] for k in range(K)])
        info["relative_residual"] = float(np.linalg.norm(R) / np.linalg.norm(Q))
    return psi, info


def _gmres(system: _System, rtol: float, maxiter: int, info: dict) -> np.ndarray:
    K, shape = system.K, system.backend.shape
    n = int(np.prod(shape))
    B = np.stack([system.rhs(k) for k in range(K)])
    b = B.ravel()

    def matvec(x):
        return system.apply(x.reshape((K,) + shape)).ravel()

    def precond(v):
        V = v.reshape((K,) + shape)
        out = np.empty_like(V)

        def emit(k, x):
            out[k] = x

        system.march(lambda k: V[k], emit)
        return out.ravel()

    A = spla.LinearOperator((K * n, K * n), matvec=matvec, dtype=float)
    M = spla.LinearOperator((K * n, K * n), matvec=precond, dtype=float)
    count = [0]
    x = precond(b)
    bnorm = np.linalg.norm(b)
    for _ in range(5):                                   # restart until the TRUE residual is met
        x, _ = spla.gmres(A, b, x0=x, rtol=rtol, atol=0.0, restart=20, maxiter=maxiter, M=M,
                          callback=lambda _: count.__setitem__(0, count[0] + 1), callback_type="pr_norm")
        true = np.linalg.norm(b - matvec(x)) / bnorm
        if true <= rtol:
            break
    else:
        raise CrinferError(
            f"species {system.problem.name!r}: GMRES did not reach the relative residual {rtol:g} "
            f"(got {true:.3g} after {count[0]} iterations); raise maxiter"
        )
    info["iterations"] = count[0]
    info["gmres_relative_residual"] = float(true)
    return x.reshape((K,) + shape)


def solve(grid: TransportGrid, problems: Sequence[SpeciesProblem] | SpeciesProblem,
          observer: tuple[float, float] = (8.5, 0.0), *, method: str = "auto",
          energy_scheme: str = "upwind2", rtol: float = 1e-10, maxiter: int = 200,
          verify: bool = False) -> TransportResult:
    """Solve the steady state for every species; return a :class:`TransportResult`.

    Args:
        grid: the grid (all species share it).
        problems: one or more :class:`SpeciesProblem` (solved independently).
        observer: (r, z) of the observer [kpc]; must lie inside the halo.
        method: ``"auto"`` (modal when coefficients are spatially uniform, else sparse),
            ``"modal"`` or ``"sparse"``.
        energy_scheme: ``"upwind2"`` (second order, default) or ``"upwind1"``.
        rtol: relative residual required of GMRES (reacceleration only).
        maxiter: GMRES restarts allowed per round.
        verify: also compute ||Q - A psi|| / ||Q|| with independent sparse operators in node
            space (``info[name]["relative_residual"]``); costs about one more solve.
    """
    if method not in METHODS:
        raise ConfigurationError(f"method {method!r} is not one of {METHODS}")
    if energy_scheme not in ENERGY_SCHEMES:
        raise ConfigurationError(f"energy_scheme {energy_scheme!r} is not one of {ENERGY_SCHEMES}")
    if isinstance(problems, SpeciesProblem):
        problems = [problems]
    names = [p.name for p in problems]
    if not problems or len(set(names)) != len(names):
        raise ConfigurationError(f"need one or more species with distinct names, got {names}")
    grid.check_observer(*observer)
    psi, info = {}, {}
    for problem in problems:
        problem.validate(grid)
        psi[problem.name], info[problem.name] = _solve_species(
            grid, problem, method, energy_scheme, rtol, maxiter, verify)
    return TransportResult(grid=grid, psi=psi, observer=tuple(float(v) for v in observer), info=info)


def residual(grid: TransportGrid, problem: SpeciesProblem, psi: np.ndarray,
             energy_scheme: str = "upwind2") -> np.ndarray:
    """Pointwise residual Q - A psi on the full grid (n_r, n_z, n_E), with sparse operators.

    Independent of the backend that produced ``psi`` (zero on the boundary nodes).
    """
    backend = _SparseBackend(grid, problem, cache=False)
    system = _System(grid, problem, backend, energy_scheme)
    X = np.stack([grid.interior(psi[:, :, k]).ravel() for k in range(grid.n_E)])
    B = np.stack([system.rhs(k) for k in range(grid.n_E)])
    R = B - system.apply(X)
    return grid.embed(np.moveaxis(R.reshape((grid.n_E,) + grid.interior_shape), 0, -1))
