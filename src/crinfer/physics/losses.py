"""Continuous energy-loss rates b = -dE/dt > 0 [GeV/Myr] of electrons and protons.

Electrons: E is the total energy [GeV] (gamma = E/m_e). DRAGON2 tabulates b(p) = -dp/dt
against momentum; for electrons above 0.1 GeV, p = E to 1.3e-5 and dp/dt = dE/dt / beta, so the
two agree to that accuracy. Protons/nuclei: Ek is the kinetic energy [GeV] per particle.
Radiation energy densities in eV/cm^3, temperatures in K, gas densities in cm^-3, magnetic
field in muG. Formulas and citations in docs/physics.md. JAX-traceable and differentiable;
concrete negative/non-finite inputs raise ConfigurationError naming the value.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from crinfer.physics import constants as C
from crinfer.physics._checks import require_above, require_nonnegative, require_positive

# (4/3) sigma_T c in GeV/Myr per (eV/cm^3): b_Thomson = _THOMSON * U * gamma^2
_THOMSON = (4.0 / 3.0) * C.SIGMA_T_CM2 * C.C_CM_S * C.EV_PER_S_TO_GEV_PER_MYR
# 2 pi r_e^2 m_e c^3 = (3/4) sigma_T c m_e c^2 in GeV/Myr per cm^-3
_COLL = 2.0 * math.pi * C.R_E_CM**2 * C.C_CM_S * (C.M_E * C.GEV_TO_EV) * C.EV_PER_S_TO_GEV_PER_MYR
_ME_EV = C.M_E * C.GEV_TO_EV
I_H_EV = 13.6
"""Mean excitation energy of atomic hydrogen [eV] (GALPROP; Strong & Moskalenko 1998)."""
I_HE_EV = 24.6
"""Mean excitation energy of helium [eV] (GALPROP; ionisation potential, S&M 1998)."""
HE_TO_H = 0.1
"""Default helium/hydrogen number ratio of the ISM."""


def _gamma(E):
    require_above("E", E, C.M_E, "GeV", " (m_e; E is the total electron energy)")
    return jnp.asarray(E) / C.M_E


# ---------------------------------------------------------------- inverse Compton, Thomson
def ic_loss_thomson(E, u_rad_eV_cm3):
    """Thomson-limit IC loss (4/3) sigma_T c gamma^2 U [GeV/Myr] on radiation of density U.

    CMB (U = 0.2608 eV/cm^3): b = 8.38e-4 (E/GeV)^2 GeV/Myr.
    """
    require_nonnegative("u_rad_eV_cm3", u_rad_eV_cm3, "eV/cm^3")
    return _THOMSON * u_rad_eV_cm3 * _gamma(E) ** 2


def synchrotron_loss(E, B_muG):
    """Synchrotron loss (4/3) sigma_T c gamma^2 U_B [GeV/Myr], U_B = B^2/(8 pi), pitch-angle
    averaged (random field); 3 muG gives U_B = 0.2235 eV/cm^3."""
    require_nonnegative("B_muG", B_muG, "muG")
    U_B = jnp.asarray(B_muG) ** 2 * C.MUG_ENERGY_DENSITY_EV_CM3
    return _THOMSON * U_B * _gamma(E) ** 2


# ---------------------------------------------------------------- inverse Compton, Klein-Nishina
_ZETA5_OVER_ZETA4 = 1.0369277551433699 / (math.pi**4 / 90.0)
_A_T = math.pi**4 / 135.0  # Thomson asymptote of G(t): G -> A t^2
_B_KN = math.pi**2 / 12.0  # extreme-KN asymptote: G -> B ln t
# Closed-form coefficients: least squares in ln F against kn_suppression_numerical on
# 1e-8 <= t <= 1e6 (141 log-spaced points); max deviation 0.18% (docs/physics.md)
_KAK_C, _P1, _P2, _Q1, _Q2, _PW = 5.6727, 3.8077, 0.54301, 2.7896, 0.53831, 2.0516


def _kn_t(E, T_K):
    require_positive("T_K", T_K, "K")
    return 4.0 * _gamma(E) * (C.K_B_EV_K * jnp.asarray(T_K) / _ME_EV)


def kn_suppression(t):
    """F_KN(t) = b_KN / b_Thomson for a black body, t = 4 gamma k T / (m_e c^2); closed form.

    Khangulyan, Aharonian & Kelner (2014) construction: G0(t) = c t ln(1 + A t/c)/(1 + c t/B)
    merges the Thomson (A t^2, A = pi^4/135) and extreme-KN (B ln t, B = pi^2/12) asymptotes of
    G = F A t^2, times a rational correction; coefficients fitted here (see docs/physics.md).
    """
    t = jnp.asarray(t)
    G0 = _KAK_C * jnp.log1p(_A_T * t / _KAK_C) / (_A_T * t * (1.0 + _KAK_C * t / _B_KN))
    tp = t**_PW
    return G0 * (1.0 + _P1 * t + _P2 * tp) / (1.0 + _Q1 * t + _Q2 * tp)


def ic_loss_klein_nishina(E, T_K, u_eV_cm3):
    """IC loss [GeV/Myr] on a (diluted) black body of temperature T_K and energy density u,
    full Klein-Nishina, closed form (``kn_suppression``); agrees with ``ic_loss_kn_numerical``
    to 0.2% for 1e-8 <= t <= 1e6."""
    return ic_loss_thomson(E, u_eV_cm3) * kn_suppression(_kn_t(E, T_K))


def ic_loss_kn_first_order(E, T_K, u_eV_cm3):
    """Seed 003 eq. 2.4: Thomson x (1 - (63/10) gamma <eps^2>/(m_e c^2 <eps>)) for a black body,
    <eps^2>/<eps> = 4 zeta(5)/zeta(4) k T. First-order KN expansion; it turns negative (fails)
    for t >~ 0.17, e.g. optical photons at ~100 GeV. Kept for comparison only."""
    gamma_eps2_over_eps = _kn_t(E, T_K) * _ZETA5_OVER_ZETA4  # gamma <eps^2>/(m_e c^2 <eps>)
    return ic_loss_thomson(E, u_eV_cm3) * (1.0 - 6.3 * gamma_eps2_over_eps)


# Direct integration: Gauss-Legendre in ln x (Planck) and ln q (KN kernel). Written for an
# array module ``xp``: NumPy for concrete inputs (no compilation), jax.numpy under tracing.
_GL12 = np.polynomial.legendre.leggauss(12)
_GL64 = np.polynomial.legendre.leggauss(64)


def _kn_kernel(Gam, xp, n_panels=24):
    """Jones (1968) / Blumenthal & Gould (1970) KN energy-loss kernel J(Gamma) = int_0^1 h(q; Gamma) dq, J(0) = 1/9."""
    xg, wg = _GL12
    lo = xp.log(1e-6 / (1.0 + Gam))[..., None, None]  # ln q_min; the q < q_min part is < 1e-11 J
    edges = np.linspace(0.0, 1.0, n_panels + 1)
    a, b = edges[:-1, None], edges[1:, None]
    s = a + (b - a) * (xg + 1.0) / 2.0  # (panels, 12) in [0, 1]
    u = lo * (1.0 - s)  # ln q from ln q_min to 0
    q = xp.exp(u)
    Gq = Gam[..., None, None] * q
    h = q * (2.0 * q * u + (1.0 + 2.0 * q) * (1.0 - q) + Gq**2 * (1.0 - q) / (2.0 * (1.0 + Gq))) / (1.0 + Gq) ** 3
    du = -lo[..., 0] * (b - a)[:, 0] / 2.0  # (..., panels)
    return xp.sum(xp.sum(h * q * wg, axis=-1) * du, axis=-1)


def kn_suppression_numerical(t):
    """F_KN(t) by direct integration of the full KN energy-loss kernel over the Planck spectrum,
    F(t) = (135/pi^4) int_0^inf x^3 J(x t)/(e^x - 1) dx with x = eps/kT (docs/physics.md).
    Relative accuracy ~1e-6; ~150 kB of memory per element of t. NumPy in, NumPy out; JAX
    (traced) in, JAX out."""
    xp = jnp if isinstance(t, jax.Array) else np
    t = xp.asarray(t, dtype=float)
    xg, wg = _GL64
    lo, hi = math.log(1e-4), math.log(80.0)
    x = np.exp((lo + hi) / 2.0 + (hi - lo) / 2.0 * xg)
    wx = wg * (hi - lo) / 2.0 * x * x**3 / np.expm1(x)
    J = _kn_kernel(t[..., None] * x, xp)
    return (135.0 / math.pi**4) * xp.sum(wx * J, axis=-1)


def ic_loss_kn_numerical(E, T_K, u_eV_cm3):
    """IC loss [GeV/Myr] on a (diluted) black body by direct numerical integration of the full
    Klein-Nishina cross section (Jones 1968; Blumenthal & Gould 1970) over the Planck spectrum.
    Reference implementation (tests); NumPy for concrete inputs, jax.numpy for JAX arrays.
    XLA compiles it slowly under jit (minutes on a busy CPU): use ic_loss_klein_nishina in solvers."""
    if any(isinstance(v, jax.Array) for v in (E, T_K, u_eV_cm3)):
        return ic_loss_thomson(E, u_eV_cm3) * kn_suppression_numerical(_kn_t(E, T_K))
    gamma = np.asarray(E, dtype=float) / C.M_E
    require_above("E", E, C.M_E, "GeV", " (m_e; E is the total electron energy)")
    require_positive("T_K", T_K, "K")
    require_nonnegative("u_eV_cm3", u_eV_cm3, "eV/cm^3")
    t = 4.0 * gamma * C.K_B_EV_K * np.asarray(T_K, dtype=float) / _ME_EV
    return _THOMSON * np.asarray(u_eV_cm3, dtype=float) * gamma**2 * kn_suppression_numerical(t)


# ---------------------------------------------------------------- collisional losses, electrons
def bremsstrahlung_loss(E, n_H, n_He=None, n_HII=0.0):
    """Bremsstrahlung loss [GeV/Myr] in neutral H and He (complete screening) plus ionised H.

    Neutral: b = c E sum_s n_s m_s / X_s with radiation lengths X_H = 62.8 g/cm^2,
    X_He = 93.1 g/cm^2 (valid for E >~ 1 GeV; Strong, Moskalenko & Reimer 2000; Longair).
    Ionised (unscreened, Blumenthal & Gould 1970 sec. 3, with the e-e term, Z(Z+1) = 2):
    b = 4 alpha r_e^2 c E n_HII 2 [ln(2 gamma) - 1/3]. n_He defaults to 0.1 n_H.
    """
    require_nonnegative("n_H", n_H, "cm^-3")
    require_nonnegative("n_HII", n_HII, "cm^-3")
    if n_He is None:
        n_He = HE_TO_H * jnp.asarray(n_H)
    require_nonnegative("n_He", n_He, "cm^-3")
    g = _gamma(E)
    E = jnp.asarray(E)
    m_H_g, m_He_g = 1.6735575e-24, 6.6464731e-24
    neutral = C.C_CM_S * (n_H * m_H_g / 62.8 + n_He * m_He_g / 93.1) * C.MYR_S
    ionised = (4.0 * C.ALPHA_FS * C.R_E_CM**2 * C.C_CM_S * C.MYR_S) * 2.0 * n_HII * (jnp.log(2.0 * g) - 1.0 / 3.0)
    return E * (neutral + ionised)


def ionisation_loss(E, n_H, n_He=None):
    """Ionisation loss [GeV/Myr] of electrons in neutral H and He (Bethe; Rohrlich & Carlson 1954
    stopping power, no density effect, as in GALPROP):
    b = 2 pi r_e^2 m_e c^3 / beta sum_s Z_s n_s [ln(tau^2 (tau+2) / (2 (I_s/m_e c^2)^2)) + F(tau)],
    tau = gamma - 1, F = 1 - beta^2 + (tau^2/8 - (2 tau + 1) ln 2)/(tau + 1)^2.
    """
    require_nonnegative("n_H", n_H, "cm^-3")
    if n_He is None:
        n_He = HE_TO_H * jnp.asarray(n_H)
    require_nonnegative("n_He", n_He, "cm^-3")
    g = _gamma(E)
    tau = g - 1.0
    beta2 = 1.0 - 1.0 / g**2
    F = 1.0 - beta2 + (tau**2 / 8.0 - (2.0 * tau + 1.0) * math.log(2.0)) / (tau + 1.0) ** 2
    base = jnp.log(tau**2 * (tau + 2.0) / 2.0) + F
    L_H = base - 2.0 * math.log(I_H_EV / _ME_EV)
    L_He = base - 2.0 * math.log(I_HE_EV / _ME_EV)
    return _COLL / jnp.sqrt(beta2) * (1.0 * n_H * L_H + 2.0 * n_He * L_He)


_LN_COULOMB_CONST = math.log((_ME_EV / C.HBAR_C_EV_CM) ** 2 / (math.pi * C.R_E_CM))  # ln of cm^-3


def coulomb_loss(E, n_e):
    """Coulomb loss [GeV/Myr] of electrons in an ionised plasma of electron density n_e [cm^-3]:
    b = 2 pi r_e^2 m_e c^3 n_e [ln(m_e^2 c^4 gamma / (pi r_e hbar^2 c^2 n_e)) - 3/4]
    (Ginzburg 1979; Strong & Moskalenko 1998); zero for n_e = 0."""
    require_nonnegative("n_e", n_e, "cm^-3")
    g = _gamma(E)
    n_e = jnp.asarray(n_e, dtype=float)
    safe = jnp.where(n_e > 0, n_e, 1.0)
    return jnp.where(n_e > 0, _COLL * n_e * (_LN_COULOMB_CONST + jnp.log(g / safe) - 0.75), 0.0)


# ---------------------------------------------------------------- protons and nuclei
def _proton_kin(Ek, mass):
    require_positive("Ek", Ek, "GeV")
    g = 1.0 + jnp.asarray(Ek) / mass
    beta2 = 1.0 - 1.0 / g**2
    return g, beta2


def proton_ionisation_loss(Ek, n_H, n_He=None, Z=1, mass=C.M_P):
    """Ionisation loss [GeV/Myr] of a proton (nucleus of charge Z, mass [GeV]) of kinetic energy
    Ek [GeV] in neutral H and He (Bethe-Bloch, no shell/density corrections; as in GALPROP,
    Strong & Moskalenko 1998; Mannheim & Schlickeiser 1994):
    b = 2 pi r_e^2 m_e c^3 Z^2 / beta sum_s Z_s n_s [ln(2 m_e c^2 beta^2 gamma^2 Q_max / I_s^2) - 2 beta^2],
    Q_max = 2 m_e c^2 beta^2 gamma^2 / (1 + 2 gamma m_e/M).
    """
    require_nonnegative("n_H", n_H, "cm^-3")
    if n_He is None:
        n_He = HE_TO_H * jnp.asarray(n_H)
    require_nonnegative("n_He", n_He, "cm^-3")
    g, beta2 = _proton_kin(Ek, mass)
    bg2 = beta2 * g**2
    Qmax = 2.0 * _ME_EV * bg2 / (1.0 + 2.0 * g * C.M_E / mass)
    arg = 2.0 * _ME_EV * bg2 * Qmax
    L_H = jnp.log(arg / I_H_EV**2) - 2.0 * beta2
    L_He = jnp.log(arg / I_HE_EV**2) - 2.0 * beta2
    return _COLL * Z**2 / jnp.sqrt(beta2) * (n_H * L_H + 2.0 * n_He * L_He)


def proton_coulomb_loss(Ek, n_e, T_e=1.0e4, Z=1, mass=C.M_P):
    """Coulomb loss [GeV/Myr] of a proton (charge Z, mass [GeV]) in an ionised plasma of
    electron density n_e [cm^-3] and temperature T_e [K] (Mannheim & Schlickeiser 1994; GALPROP):
    b = 4 pi r_e^2 m_e c^3 Z^2 n_e ln(Lambda) beta^2 / (beta^3 + x_m^3),
    x_m = (3 sqrt(pi)/4)^(1/3) sqrt(2 k T_e / m_e c^2),
    ln Lambda = 0.5 ln(m_e^2 c^4 M gamma^2 beta^4 / (pi r_e hbar^2 c^2 n_e (M + 2 gamma m_e))).
    """
    require_nonnegative("n_e", n_e, "cm^-3")
    require_positive("T_e", T_e, "K")
    g, beta2 = _proton_kin(Ek, mass)
    n_e = jnp.asarray(n_e, dtype=float)
    safe = jnp.where(n_e > 0, n_e, 1.0)
    beta = jnp.sqrt(beta2)
    x_m = (3.0 * math.sqrt(math.pi) / 4.0) ** (1.0 / 3.0) * jnp.sqrt(2.0 * C.K_B_EV_K * T_e / _ME_EV)
    lnL = 0.5 * (_LN_COULOMB_CONST + jnp.log(mass * g**2 * beta2**2 / (safe * (mass + 2.0 * g * C.M_E))))
    b = 2.0 * _COLL * Z**2 * n_e * lnL * beta2 / (beta**3 + x_m**3)
    return jnp.where(n_e > 0, b, 0.0)


# ---------------------------------------------------------------- totals
def ic_loss_on_fields(E, radiation_fields, method="closed_form"):
    """Sum of KN IC losses [GeV/Myr] over black-body components (objects with ``T_K`` and
    ``u_eV_cm3``); method "closed_form", "numerical" or "thomson"."""
    fns = {"closed_form": ic_loss_klein_nishina, "numerical": ic_loss_kn_numerical}
    if method == "thomson":
        return sum(ic_loss_thomson(E, f.u_eV_cm3) for f in radiation_fields)
    if method not in fns:
        raise ValueError(f"method={method!r} is not one of 'closed_form', 'numerical', 'thomson'")
    return sum(fns[method](E, f.T_K, f.u_eV_cm3) for f in radiation_fields)


def electron_loss_rate(E, radiation_fields=(), B_muG=0.0, n_H=0.0, n_He=None, n_HII=0.0,
                       n_e=None, ic_method="closed_form"):
    """Total electron loss rate b(E) [GeV/Myr]: IC (KN) on each black-body component plus
    synchrotron, bremsstrahlung, ionisation (neutral gas) and Coulomb (n_e defaults to n_HII)."""
    E = jnp.asarray(E, dtype=float)
    b = synchrotron_loss(E, B_muG)
    if len(radiation_fields):
        b = b + ic_loss_on_fields(E, radiation_fields, ic_method)
    b = b + bremsstrahlung_loss(E, n_H, n_He, n_HII) + ionisation_loss(E, n_H, n_He)
    b = b + coulomb_loss(E, n_HII if n_e is None else n_e)
    return b


def proton_loss_rate(Ek, n_H=0.0, n_He=None, n_e=0.0, T_e=1.0e4, Z=1, mass=C.M_P):
    """Total continuous loss of protons/nuclei [GeV/Myr]: ionisation plus Coulomb."""
    return proton_ionisation_loss(Ek, n_H, n_He, Z, mass) + proton_coulomb_loss(Ek, n_e, T_e, Z, mass)
