"""Physical constants and unit conversions in crinfer's internal units (kpc, Myr, GeV).

Values are CODATA 2018 / PDG 2022 (exact SI definitions where they exist); the year is the
Julian year (365.25 d), as in GALPROP and DRAGON. Names carry their unit when it is not the
internal one.
"""
from __future__ import annotations

import math

# --- lengths and times -------------------------------------------------------------------
PC_CM = 3.0856775814913673e18
"""Parsec in cm (IAU 2015)."""
KPC_CM = 1.0e3 * PC_CM
"""Kiloparsec in cm."""
kpc_cm = KPC_CM
YR_S = 365.25 * 86400.0
"""Julian year in s."""
MYR_S = 1.0e6 * YR_S
"""Megayear in s (3.15576e13)."""
Myr_s = MYR_S

# --- speed of light ------------------------------------------------------------------------
C_CM_S = 2.99792458e10
"""Speed of light in cm/s (exact)."""
c_cm_s = C_CM_S
C_KPC_MYR = C_CM_S * MYR_S / KPC_CM
"""Speed of light in kpc/Myr (306.60; 1 Myr of light travel = 306.6 kpc)."""
c_kpc_Myr = C_KPC_MYR
c = C_KPC_MYR

# --- energies ------------------------------------------------------------------------------
EV_TO_GEV = 1.0e-9
GEV_TO_EV = 1.0e9
EV_ERG = 1.602176634e-12
"""Electronvolt in erg (exact)."""
GEV_ERG = 1.0e9 * EV_ERG

M_E = 0.51099895000e-3
"""Electron mass in GeV/c^2."""
m_e = M_E
M_P = 0.93827208816
"""Proton mass in GeV/c^2."""
m_p = M_P
M_U = 0.93149410242
"""Atomic mass unit in GeV/c^2 (mass per nucleon used for nuclei, Ek per nucleon)."""
m_u = M_U

# --- electromagnetic -----------------------------------------------------------------------
SIGMA_T_CM2 = 6.6524587321e-25
"""Thomson cross section in cm^2."""
sigma_T = SIGMA_T_CM2
R_E_CM = 2.8179403262e-13
"""Classical electron radius in cm."""
r_e = R_E_CM
ALPHA_FS = 7.2973525693e-3
"""Fine-structure constant."""

# --- thermal and quantum -------------------------------------------------------------------
K_B_EV_K = 8.617333262e-5
"""Boltzmann constant in eV/K (exact)."""
k_B = K_B_EV_K
HBAR_C_EV_CM = 1.973269804e-5
"""hbar c in eV cm."""
A_RAD_EV_CM3_K4 = (math.pi**2 / 15.0) * K_B_EV_K**4 / HBAR_C_EV_CM**3
"""Radiation constant a = pi^2 k^4 / (15 hbar^3 c^3) in eV cm^-3 K^-4 (4.7218e-3)."""
T_CMB_K = 2.7255
"""CMB temperature in K (Fixsen 2009)."""

# --- magnetic fields -----------------------------------------------------------------------
MUG_ENERGY_DENSITY_EV_CM3 = (1.0e-6) ** 2 / (8.0 * math.pi) / EV_ERG
"""Magnetic energy density B^2/(8 pi) of a 1 muG field in eV/cm^3 (0.02483)."""

# --- diffusion coefficients ----------------------------------------------------------------
CM2_PER_S_TO_KPC2_PER_MYR = MYR_S / KPC_CM**2
"""Multiply a diffusion coefficient in cm^2/s by this to get kpc^2/Myr (1e28 -> 0.0331)."""
KPC2_PER_MYR_TO_CM2_PER_S = 1.0 / CM2_PER_S_TO_KPC2_PER_MYR

# --- rates ---------------------------------------------------------------------------------
EV_PER_S_TO_GEV_PER_MYR = EV_TO_GEV * MYR_S
"""Multiply an energy-loss rate in eV/s by this to get GeV/Myr."""
