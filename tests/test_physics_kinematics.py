"""Kinematics, constants, diffusion coefficient and source profiles (crinfer.physics)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import crinfer  # noqa: F401  (enables float64)
from crinfer.physics import constants as C
from crinfer.physics import diffusion, kinematics as K, sources


def test_constants_unit_conversions():
    assert C.C_KPC_MYR == pytest.approx(306.601, rel=1e-5)  # 1 Myr of light = 306.6 kpc
    assert 1e28 * C.CM2_PER_S_TO_KPC2_PER_MYR == pytest.approx(0.033144, rel=1e-4)
    # DRAGON2's D0 = 4e28 cm^2/s is stored as 0.1325752 kpc^2/Myr (its kpc = 3.08568e21 cm)
    assert 4e28 * C.CM2_PER_S_TO_KPC2_PER_MYR == pytest.approx(0.1325752, rel=1e-5)
    assert C.A_RAD_EV_CM3_K4 * 2.726**4 == pytest.approx(0.2608, rel=1e-3)  # CMB a T^4
    assert 9.0 * C.MUG_ENERGY_DENSITY_EV_CM3 == pytest.approx(0.2235, rel=1e-3)  # 3 muG


@pytest.mark.slow
def test_momentum_kinetic_round_trip_and_limits():
    Ek = np.logspace(-6, 6, 25)
    for m in (C.M_E, C.M_P):
        p = K.momentum_from_kinetic(Ek, m)
        np.testing.assert_allclose(K.kinetic_from_momentum(p, m), Ek, rtol=1e-12)
        beta = K.beta_from_kinetic(Ek, m)
        np.testing.assert_allclose(beta, K.beta_from_momentum(p, m), rtol=1e-12)
        np.testing.assert_allclose(K.lorentz_factor(Ek, m) * beta * m, p, rtol=1e-12)
    # non-relativistic p = sqrt(2 m Ek); ultra-relativistic p = Ek
    assert float(K.momentum_from_kinetic(1e-6, C.M_P)) == pytest.approx(np.sqrt(2 * C.M_P * 1e-6), rel=1e-6)
    assert float(K.momentum_from_kinetic(1e4, C.M_E)) == pytest.approx(1e4, rel=1e-7)


@pytest.mark.slow
def test_rigidity_and_per_nucleon_conversions():
    # carbon-12 at 10 GeV/n: p = A sqrt(Ek_n (Ek_n + 2 m_u)), R = p/Z
    Ek_n = 10.0
    p = 12 * np.sqrt(Ek_n * (Ek_n + 2 * C.M_U))
    assert float(K.momentum_per_nucleon(Ek_n, A=12)) == pytest.approx(p, rel=1e-12)
    assert float(K.rigidity_from_kinetic_per_nucleon(Ek_n, Z=6, A=12)) == pytest.approx(p / 6, rel=1e-12)
    assert float(K.rigidity(p, Z=6)) == pytest.approx(p / 6, rel=1e-12)
    R = np.logspace(-1, 5, 13)
    back = K.rigidity_from_kinetic_per_nucleon(K.kinetic_per_nucleon_from_rigidity(R, Z=5, A=10), Z=5, A=10)
    np.testing.assert_allclose(back, R, rtol=1e-12)
    carbon = K.Species("C12", 6, 12, 12 * C.M_U)
    np.testing.assert_allclose(carbon.rigidity(Ek_n), p / 6, rtol=1e-12)
    np.testing.assert_allclose(carbon.kinetic_per_nucleon_from_rigidity(carbon.rigidity(R)), R, rtol=1e-12)
    assert float(K.ELECTRON.rigidity(1.0)) == pytest.approx(np.sqrt(1.0 * (1.0 + 2 * C.M_E)), rel=1e-12)


def test_species_rejects_bad_definitions():
    with pytest.raises(ValueError, match="A=0"):
        K.Species("x", 1, 0, 1.0)
    with pytest.raises(ValueError, match="Z=0"):
        K.Species("n", 0, 1, 1.0)
    with pytest.raises(ValueError, match="mass=-1"):
        K.Species("x", 1, 1, -1.0)


def test_diffusion_coefficient_scaling():
    assert float(diffusion.diffusion_coefficient(4.0, 2.0, 0.5)) == pytest.approx(2.0)
    assert float(diffusion.diffusion_coefficient(16.0, 2.0, 0.5)) == pytest.approx(4.0)
    assert float(diffusion.diffusion_coefficient(4.0, 2.0, 0.5, eta=1.0, beta=0.5)) == pytest.approx(1.0)
    # DRAGON2 run (a): D = D0 (p/4 GeV)^0.33, no beta factor, protons at Ek = 100 GeV
    model = diffusion.DiffusionModel(D0=0.1325752, delta=0.33)
    p = float(K.PROTON.momentum(100.0))
    assert float(model(K.PROTON, 100.0)) == pytest.approx(0.1325752 * (p / 4.0) ** 0.33, rel=1e-12)
    slow = diffusion.DiffusionModel(D0=1.0, delta=0.5, eta=1.0)
    assert float(slow(K.PROTON, 0.01)) == pytest.approx(
        float(K.PROTON.beta(0.01)) * (float(K.PROTON.rigidity(0.01)) / 4) ** 0.5, rel=1e-12)


@pytest.mark.slow
def test_diffusion_model_is_a_differentiable_pytree():
    model = diffusion.DiffusionModel(D0=0.1, delta=0.4, profile=lambda r, z: diffusion.exponential_halo_profile(z, 2.0))
    f = jax.jit(lambda m: m(K.PROTON, 10.0, r=8.5, z=1.0))
    R = float(K.PROTON.rigidity(10.0))
    assert float(f(model)) == pytest.approx(0.1 * (R / 4) ** 0.4 * np.exp(0.5), rel=1e-12)
    g = jax.grad(lambda d: diffusion.DiffusionModel(D0=0.1, delta=d)(K.PROTON, 10.0))(0.4)
    assert float(g) == pytest.approx(0.1 * (R / 4) ** 0.4 * np.log(R / 4), rel=1e-10)
    with pytest.raises(ValueError, match="pass both r and z"):
        model(K.PROTON, 10.0)


@pytest.mark.slow
def test_broken_power_law():
    p = np.array([0.5, 4.0, 8.0])
    q = sources.broken_power_law(p, 4.0, 1.6, 2.5)
    np.testing.assert_allclose(q, [8.0**1.6, 1.0, 2.0**-2.5], rtol=1e-12)
    qc = sources.broken_power_law(p, 4.0, 1.6, 2.5, cutoff=100.0)
    np.testing.assert_allclose(qc, q * np.exp(-p / 100.0), rtol=1e-12)
    assert float(sources.power_law_cutoff(10.0, 1.0, 2.2, 1e4)) == pytest.approx(10**-2.2 * np.exp(-1e-3))


@pytest.mark.slow
def test_radial_profiles():
    # DRAGON2 "Galprop" source: 1 at r_sun, zero from 15 kpc on
    f = sources.galprop_radial(np.array([0.0, 4.0, 8.5, 14.9, 15.0, 18.0]), 1.25, 3.56, 8.5, 15.0)
    assert f[2] == pytest.approx(1.0) and f[0] == 0.0 and f[4] == 0.0 and f[5] == 0.0
    assert f[1] == pytest.approx((4 / 8.5) ** 1.25 * np.exp(-3.56 * (4 - 8.5) / 8.5))
    # its maximum sits at r = alpha r_sun / beta
    r = np.linspace(0.0, 10.0, 4001)
    assert r[np.argmax(sources.galprop_radial(r, 1.25, 3.56))] == pytest.approx(1.25 * 8.5 / 3.56, abs=2e-3)
    cb = sources.case_bhattacharya(np.array([0.0, 8.5, 16.7, 16.8, 20.0]))
    assert cb[0] == pytest.approx(1.96 * np.sin(0.08)) and cb[1] > 0 and cb[2] > 0
    assert cb[3] == 0.0 and cb[4] == 0.0  # sine negative beyond r0 (1 - theta0/pi) = 16.76 kpc
    assert float(sources.lorimer(8.5)) == pytest.approx(41.0)
    assert float(sources.exponential_disc(-0.2, 0.2)) == pytest.approx(np.exp(-1.0))
    z = np.linspace(-5.0, 5.0, 4001)
    assert np.trapezoid(sources.exponential_disc(z, 0.2), z) == pytest.approx(sources.thin_disc_column(0.2), rel=1e-4)
