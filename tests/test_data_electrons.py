"""The shipped all-electron spectra: counts, ranges and the published flux levels."""
import numpy as np
import pytest

from crinfer.core.errors import ConfigurationError
from crinfer.data.electrons import FILES, load_all, load_spectrum


@pytest.mark.parametrize("name,n,e_lo,e_hi", [
    ("AMS-02", 76, 0.5, 2000.0), ("DAMPE", 38, 24.0, 4571.0), ("Fermi-LAT", 27, 42.2, 2054.0),
    ("CALET", 41, 10.6, 7536.0), ("H.E.S.S.", 16, 373.0, 4510.0)])
def test_counts_and_ranges(name, n, e_lo, e_hi):
    s = load_spectrum(name)
    assert len(s.energy_GeV) == n
    assert e_lo * 0.99 <= s.energy_GeV.min() and s.energy_GeV.max() <= e_hi * 1.01
    assert np.all(np.diff(s.energy_GeV) > 0) and np.all(s.flux > 0) and np.all(s.stat >= 0)


def test_flux_levels_match_the_published_figures():
    """E^3 J ~ 2.0e2 (DAMPE, 24-27.5 GeV) and ~1.5e2 (H.E.S.S., 715 GeV) GeV^2 m^-2 s^-1 sr^-1."""
    dampe, hess = load_spectrum("DAMPE"), load_spectrum("H.E.S.S.")
    assert dampe.e3_flux[0] == pytest.approx(1.16e-2 * (24.0 * 27.5) ** 1.5, rel=1e-12)
    assert 190 < dampe.e3_flux[0] < 215
    assert hess.energy_GeV[hess.energy_GeV > 700][0] == pytest.approx(714.7)
    assert 140 < hess.e3_flux[hess.energy_GeV > 700][0] < 160
    # all experiments agree on the level at ~100 GeV within ~30 %
    near_100 = [np.interp(2.0, np.log10(s.energy_GeV), s.e3_flux) for s in load_all(30, 500).values()
                if s.energy_GeV.min() < 100 < s.energy_GeV.max()]
    assert len(near_100) == 4 and max(near_100) / min(near_100) < 1.3


def test_selection_and_errors():
    sel = load_all(100.0, 1000.0)
    assert set(sel) == set(FILES)
    assert all(s.energy_GeV.min() >= 100 and s.energy_GeV.max() <= 1000 for s in sel.values())
    with pytest.raises(ConfigurationError, match="experiment='PAMELA'"):
        load_spectrum("PAMELA")
