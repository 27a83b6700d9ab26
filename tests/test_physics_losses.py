"""Energy-loss rates (crinfer.physics.losses) and radiation fields (crinfer.physics.radiation)."""
import math
from importlib import resources

import jax
import numpy as np
import pytest

import crinfer  # noqa: F401  (enables float64)
from crinfer.core.errors import ConfigurationError
from crinfer.physics import constants as C
from crinfer.physics import losses as L
from crinfer.physics import radiation as R

T_DRAGON = 2.726  # DRAGON2's CMB temperature
U_DRAGON = C.A_RAD_EV_CM3_K4 * T_DRAGON**4  # 0.2608 eV/cm^3


def test_thomson_on_cmb_matches_peer_coefficient():
    # peers README: Thomson b = 8.380e-4 (p/GeV)^2 GeV/Myr on a T^4 = 0.2608 eV/cm^3
    assert float(L.ic_loss_thomson(1.0, 0.2608)) == pytest.approx(8.380e-4, rel=2e-4)
    # (4/3) sigma_T c U / (m_e c^2)^2 by hand, in GeV/Myr
    by_hand = 4 / 3 * 6.6524587e-25 * 2.99792458e10 * 0.2608 / 0.51099895e-3**2 * 1e-9 * 3.15576e13
    assert float(L.ic_loss_thomson(100.0, 0.2608)) == pytest.approx(by_hand * 1e4, rel=1e-7)


def test_thomson_loss_time_of_1tev_electron_on_cmb():
    tau = 1000.0 / float(L.ic_loss_thomson(1000.0, R.CMB.u_eV_cm3))  # E/b in Myr
    assert tau == pytest.approx(1.1944, rel=1e-3)


def test_synchrotron_3muG():
    b = float(L.synchrotron_loss(10.0, 3.0))
    assert b == pytest.approx(float(L.ic_loss_thomson(10.0, 0.22351)), rel=1e-4)  # U_B(3 muG) = 0.2235 eV/cm^3
    assert b / 100.0 == pytest.approx(8.380e-4 * 0.22351 / 0.2608, rel=3e-4)


@pytest.mark.slow
def test_kn_suppression_limits():
    t = np.array([1e-8, 1e-5, 1e-3])
    F = L.kn_suppression_numerical(t)
    np.testing.assert_allclose(F[:2], 1.0, atol=1e-4)
    # first-order expansion (seed 003 eq. 2.4): 1 - F = (63/10) 4 zeta(5)/zeta(4) gamma kT/mc^2 = 6.036 t
    assert (1 - F[1]) / t[1] == pytest.approx(6.0358, rel=2e-3)
    E = np.array([10.0])
    first = float(L.ic_loss_kn_first_order(E, 5000.0, 1.0)[0]) / float(L.ic_loss_thomson(E, 1.0)[0])
    t10 = 4 * 10.0 / C.M_E * C.K_B_EV_K * 5000.0 / (C.M_E * 1e9)
    assert first == pytest.approx(1 - 6.0358 * t10, rel=1e-4)


@pytest.mark.parametrize("t", [1e4, 1e5, 1e6])
def test_kn_asymptote_ln_t_over_t2(t):
    # extreme KN on a Planck field: F t^2 (pi^4/135) -> (pi^2/12)(ln t - 11/6 + (1 - gamma_E) + 6 zeta'(2)/pi^2)
    zeta2p = -0.9375482543158437
    lnk = -11 / 6 + (1 - np.euler_gamma) + 6 * zeta2p / np.pi**2
    asym = (np.pi**2 / 12) * (np.log(t) + lnk) * 135 / np.pi**4 / t**2
    assert float(L.kn_suppression_numerical(np.array([t]))[0]) / asym == pytest.approx(1.0, abs=3e-3 * 1e4 / t + 2e-4)
    assert float(L.kn_suppression(t)) / asym == pytest.approx(1.0, abs=5e-3)


@pytest.mark.slow
def test_closed_form_matches_numerical_integration_on_isrf():
    E = np.logspace(-1, 6, 15)
    for f in R.LOCAL_ISRF:
        num = L.ic_loss_kn_numerical(E, f.T_K, f.u_eV_cm3)
        closed = np.asarray(L.ic_loss_klein_nishina(E, f.T_K, f.u_eV_cm3))
        np.testing.assert_allclose(closed, num, rtol=2.5e-3, err_msg=f.name)
        assert np.all(np.diff(num / E**2) < 0)  # suppression grows with energy
    t = np.logspace(-8, 6, 57)
    np.testing.assert_allclose(L.kn_suppression(t), L.kn_suppression_numerical(t), rtol=2e-3)


@pytest.mark.slow
def test_kn_on_cmb_matches_dragon2_table():
    path = resources.files("crinfer") / "data/files/peers/dragon2_ic_cmb_dpdt.npz"
    with resources.as_file(path) as p, np.load(p) as d:
        p_GeV, b_dragon = d["p_GeV"], d["dpdt_GeV_per_Myr"]
    E = np.sqrt(p_GeV**2 + C.M_E**2)
    ours = np.asarray(L.ic_loss_klein_nishina(E, T_DRAGON, U_DRAGON))
    np.testing.assert_allclose(b_dragon, ours, rtol=5e-3)  # 0.1 GeV - 1.1e6 GeV, KN factor down to 0.06
    num = L.ic_loss_kn_numerical(E, T_DRAGON, U_DRAGON)
    np.testing.assert_allclose(b_dragon, num, rtol=4e-3)
    assert b_dragon[-1] / float(L.ic_loss_thomson(E[-1], U_DRAGON)) < 0.05  # deep KN reached


@pytest.mark.slow
def test_isrf_model_and_total_ic_loss():
    u = {f.name: f.u_eV_cm3 for f in R.LOCAL_ISRF}
    assert u["CMB"] == pytest.approx(0.2606, rel=1e-3)
    expected = [0.2606, 0.25, 0.055, 0.37, 0.23, 0.12]  # Delahaye et al. 2010 (rounded)
    np.testing.assert_allclose([f.u_eV_cm3 for f in R.LOCAL_ISRF], expected, rtol=0.02)
    assert R.total_energy_density(R.LOCAL_ISRF) == pytest.approx(1.287, rel=1e-3)
    assert R.CMB.dilution == pytest.approx(1.0)
    assert R.CMB.mean_photon_energy_eV == pytest.approx(2.701 * C.K_B_EV_K * 2.7255, rel=1e-3)
    U = R.total_energy_density(R.LOCAL_ISRF)
    E = np.array([0.1, 1.0, 10.0, 100.0, 1000.0])
    ratio = np.asarray(R.ic_loss(E)) / np.asarray(L.ic_loss_thomson(E, U))
    assert ratio[0] > 0.995  # Thomson regime at 0.1 GeV (UV photons: t = 0.003)
    assert np.all(np.diff(ratio) < 0) and ratio[-1] < 0.45  # KN suppression sets in
    # at 1 TeV the optical + UV photons (56% of U) give < 10% of the IC loss
    hot = [f for f in R.LOCAL_ISRF if f.T_K > 1000]
    assert sum(f.u_eV_cm3 for f in hot) / U > 0.55
    assert float(R.ic_loss(1000.0, hot)) < 0.1 * float(R.ic_loss(1000.0))


@pytest.mark.slow
def test_electron_loss_rate_sums_processes():
    E = np.array([1.0, 100.0])
    total = L.electron_loss_rate(E, R.LOCAL_ISRF, B_muG=3.0, n_H=0.9, n_He=0.09, n_HII=0.03)
    parts = (R.ic_loss(E) + L.synchrotron_loss(E, 3.0) + L.bremsstrahlung_loss(E, 0.9, 0.09, 0.03)
             + L.ionisation_loss(E, 0.9, 0.09) + L.coulomb_loss(E, 0.03))
    np.testing.assert_allclose(total, parts, rtol=1e-12)


@pytest.mark.slow
def test_collisional_losses_textbook_numbers():
    # bremsstrahlung in neutral H: E/b = X_H/(rho c) = 62.8 g cm^-2 / (m_H n c) = 39.7 Myr for n = 1
    assert 10.0 / float(L.bremsstrahlung_loss(10.0, 1.0, 0.0)) == pytest.approx(39.67, rel=2e-3)
    # ionisation in H (Longair, High Energy Astrophysics): 7.64e-15 N (3 ln gamma + 19.8) eV/s, N in m^-3
    g = 1e4
    longair = 7.64e-9 * (3 * math.log(g) + 19.8) * C.EV_PER_S_TO_GEV_PER_MYR
    assert float(L.ionisation_loss(g * C.M_E, 1.0, 0.0)) == pytest.approx(longair, rel=0.02)
    # Coulomb (Gould 1972 form): (3/4) sigma_T c m_e c^2 n_e [ln(4 gamma (m_e c^2 / hbar omega_p)^2) - 3/4]
    n_e = 0.05
    hbar_wp = 6.582119569e-16 * math.sqrt(4 * math.pi * n_e * C.R_E_CM) * C.C_CM_S
    gould = 0.75 * C.SIGMA_T_CM2 * C.C_CM_S * 0.51099895e6 * n_e * (
        math.log(4 * g * (0.51099895e6 / hbar_wp) ** 2) - 0.75) * C.EV_PER_S_TO_GEV_PER_MYR
    assert float(L.coulomb_loss(g * C.M_E, n_e)) == pytest.approx(gould, rel=1e-6)
    assert float(L.coulomb_loss(1.0, 0.0)) == 0.0


@pytest.mark.slow
def test_proton_losses():
    # minimum ionisation (beta gamma = 3.5) in hydrogen: PDG 4.103 MeV cm^2/g for H2 (I = 19.2 eV);
    # atomic H with I = 13.6 eV is ~3% higher
    p = 3.5 * C.M_P
    Ek = math.sqrt(p**2 + C.M_P**2) - C.M_P
    beta = p / math.sqrt(p**2 + C.M_P**2)
    b = float(L.proton_ionisation_loss(Ek, 1.0, 0.0))  # GeV/Myr for n_H = 1 cm^-3
    dEdx = b * 1e3 / C.MYR_S / (beta * C.C_CM_S) / 1.6735575e-24  # MeV cm^2/g
    assert 4.103 < dEdx < 4.103 * 1.05
    assert float(L.proton_ionisation_loss(Ek, 1.0, 0.0, Z=2, mass=4 * C.M_U)) > 3.5 * b
    # Coulomb: independent of the plasma temperature for beta >> x_m, 0 without electrons
    c1 = float(L.proton_coulomb_loss(10.0, 0.1, T_e=1e4))
    assert c1 == pytest.approx(float(L.proton_coulomb_loss(10.0, 0.1, T_e=1e5)), rel=1e-6)
    assert float(L.proton_coulomb_loss(1e-6, 0.1, T_e=1e4)) > 0.0
    assert float(L.proton_coulomb_loss(10.0, 0.0)) == 0.0
    assert float(L.proton_loss_rate(10.0, 1.0, n_e=0.1)) == pytest.approx(
        float(L.proton_ionisation_loss(10.0, 1.0)) + c1, rel=1e-12)


@pytest.mark.slow  # jit + grad compile: ~90 s on the 2-core sandbox
def test_losses_are_jax_traceable_and_differentiable():
    f = jax.jit(lambda E: R.ic_loss(E) + L.synchrotron_loss(E, 3.0))
    E0 = 300.0
    g = float(jax.grad(f)(E0))
    h = 1e-3
    fd = (float(f(E0 + h)) - float(f(E0 - h))) / (2 * h)
    assert g == pytest.approx(fd, rel=1e-6)
    # the reference integration follows its input: jax in -> jax.numpy path, same numbers
    via_jax = L.ic_loss_kn_numerical(jax.numpy.array([1e3]), 2.7255, 0.26)
    assert isinstance(via_jax, jax.Array)
    assert float(via_jax[0]) == pytest.approx(float(L.ic_loss_kn_numerical(np.array([1e3]), 2.7255, 0.26)[0]), rel=1e-12)


@pytest.mark.parametrize("call, match", [
    (lambda: L.ic_loss_klein_nishina(10.0, -3.0, 0.26), "T_K=-3.0"),
    (lambda: L.ic_loss_thomson(10.0, -0.1), "u_rad_eV_cm3=-0.1"),
    (lambda: L.ic_loss_kn_numerical(np.array([10.0, -1.0]), 2.7, 0.26), "E=-1.0"),
    (lambda: L.synchrotron_loss(1e-4, 3.0), "E=0.0001"),
    (lambda: L.synchrotron_loss(1.0, -3.0), "B_muG=-3.0"),
    (lambda: L.bremsstrahlung_loss(1.0, -1.0), "n_H=-1.0"),
    (lambda: L.ionisation_loss(1.0, 1.0, n_He=-0.1), "n_He=-0.1"),
    (lambda: L.coulomb_loss(1.0, float("nan")), "n_e=nan"),
    (lambda: L.proton_ionisation_loss(-1.0, 1.0), "Ek=-1.0"),
    (lambda: L.proton_coulomb_loss(1.0, 0.1, T_e=0.0), "T_e=0.0"),
    (lambda: R.BlackBody(-5.0, 1.0, "bad"), "T_K=-5.0"),
    (lambda: R.BlackBody.from_dilution(30.0, -1e-5, "bad"), "dilution=-1e-05"),
])
def test_bad_inputs_raise_configuration_error(call, match):
    with pytest.raises(ConfigurationError, match=match):
        call()
    with pytest.raises(ValueError):
        call()


def test_unknown_ic_method():
    with pytest.raises(ValueError, match="method='exact'"):
        L.ic_loss_on_fields(1.0, R.LOCAL_ISRF, method="exact")
