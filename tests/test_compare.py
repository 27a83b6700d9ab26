"""compare(): summary table, C2ST against a reference, overlaid corner plot."""
import math

import numpy as np
import pytest

import crinfer  # noqa: F401
from crinfer.core.errors import ConfigurationError, ParameterError, ShapeError
from crinfer.core.parameters import Parameter, ParameterSpace
from crinfer.core.rng import numpy_rng
from crinfer.inference.compare import compare, compare_report
from crinfer.inference.plots import corner_plot, hpd_thresholds
from crinfer.inference.results import samples_to_inference_data

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SPACE = ParameterSpace([
    Parameter("D0", 1.0, 100.0, unit="1e28 cm^2/s", scale="log"),
    Parameter("delta", 0.2, 0.8),
])


def draws(seed, shape, shift=0.0):
    """Physical samples: log10(D0) ~ N(1 + shift*0.1, 0.1), delta ~ N(0.5 + shift*0.05, 0.05)."""
    z = numpy_rng(seed).standard_normal(shape + (2,))
    return np.stack([10 ** (1.0 + 0.1 * (z[..., 0] + shift)), 0.5 + 0.05 * (z[..., 1] + shift)], axis=-1)


@pytest.fixture(scope="module")
def idatas():
    nuts = samples_to_inference_data(draws(1, (4, 75)), SPACE, method="nuts")  # 4 chains
    npe = samples_to_inference_data(draws(2, (300,)), SPACE, method="npe")
    shifted = samples_to_inference_data(draws(3, (300,), shift=1.0), SPACE, method="nle")
    return nuts, npe, shifted


@pytest.mark.slow
def test_table_holds_the_numbers(idatas):
    nuts, npe, _ = idatas
    res = compare(nuts, npe)
    assert res.labels == ("nuts", "npe") and res.names == ("D0", "delta")
    assert res.units == ("1e28 cm^2/s", "")
    table = res.table
    assert list(table["method"]) == ["nuts", "nuts", "npe", "npe"]
    for label, idata in (("nuts", nuts), ("npe", npe)):
        for name in ("D0", "delta"):
            v = idata.posterior[name].values.reshape(-1)
            row = table[(table.method == label) & (table.parameter == name)].iloc[0]
            assert row["mean"] == pytest.approx(v.mean(), rel=1e-12)
            assert row["sd"] == pytest.approx(v.std(ddof=1), rel=1e-12)
            assert row["q50"] == pytest.approx(np.median(v), rel=1e-12)
            assert row["q05"] < row["q50"] < row["q95"]
    # delta ~ N(0.5, 0.05): 5/95% quantiles near 0.5 -/+ 1.645 * 0.05.
    row = table[(table.method == "npe") & (table.parameter == "delta")].iloc[0]
    assert row["q05"] == pytest.approx(0.5 - 1.645 * 0.05, abs=0.015)
    assert row["q95"] == pytest.approx(0.5 + 1.645 * 0.05, abs=0.015)
    # R-hat only where chains exist; independent draws have R-hat ~ 1 and ESS ~ n.
    nuts_rows = table[table.method == "nuts"]
    assert np.all(np.abs(nuts_rows["r_hat"] - 1.0) < 0.05)
    assert np.all(table[table.method == "npe"]["r_hat"].isna())
    assert np.all(table["ess_bulk"] > 150)
    assert not res.c2st  # no reference, no C2ST
    assert "| nuts | delta |" in res.markdown()


@pytest.mark.slow
def test_c2st_identical_near_half_shifted_clearly_above(idatas):
    nuts, npe, shifted = idatas
    res = compare({"nuts": nuts, "npe": npe, "shifted": shifted}, reference="nuts",
                  c2st_samples=300, key=0)
    assert set(res.c2st) == {"npe", "shifted"}
    assert abs(res.c2st["npe"] - 0.5) < 0.08, res.c2st
    # A one-sd shift in both coordinates: Bayes accuracy Phi(sqrt(2)/2) = 0.76.
    assert res.c2st["shifted"] > 0.68, res.c2st
    assert "C2ST against `nuts`" in res.markdown()


@pytest.mark.slow
def test_corner_plot_and_report_are_written(idatas, tmp_path):
    nuts, npe, shifted = idatas
    png = tmp_path / "corner.png"
    res = compare(nuts, npe, shifted, truths={"D0": 10.0, "delta": 0.5}, plot_path=png)
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000
    fig = res.corner(truths=[10.0, 0.5])
    axes = fig.axes
    assert axes[2].get_xlabel() == "D0 [1e28 cm^2/s]" and axes[2].get_ylabel() == "delta"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:3] == ["nuts", "npe", "nle"] and "truth" in legend

    md = compare_report([nuts, npe], tmp_path / "report", title="test")
    text = md.read_text()
    assert md.name == "comparison.md" and "![corner plot](corner.png)" in text
    assert "| npe | D0 | 1e28 cm^2/s |" in text
    assert (tmp_path / "report" / "corner.png").read_bytes()[:8] == PNG_MAGIC


def test_hpd_thresholds_of_a_gaussian_enclose_the_analytic_areas():
    # Standard 2-D normal: the HPD region of mass l is a disc of area 2 pi ln(1 / (1 - l)).
    g = np.linspace(-6, 6, 601)
    dx = g[1] - g[0]
    xx, yy = np.meshgrid(g, g)
    dens = np.exp(-(xx**2 + yy**2) / 2) / (2 * np.pi)
    levels = (0.68, 0.95)
    t = hpd_thresholds(dens, levels)
    assert t[0] > t[1]
    for lv, tk in zip(levels, t):
        area = np.sum(dens >= tk) * dx**2
        assert area == pytest.approx(2 * np.pi * math.log(1 / (1 - lv)), rel=0.01)
        assert np.sum(dens[dens >= tk]) * dx**2 == pytest.approx(lv, abs=0.002)


@pytest.mark.slow
def test_bad_inputs_raise_clear_errors(idatas):
    nuts, npe, _ = idatas
    with pytest.raises(ConfigurationError, match="at least two"):
        compare(nuts)
    with pytest.raises(ParameterError, match="no parameter"):
        compare(nuts, npe, names=["D0", "gamma"])
    with pytest.raises(ConfigurationError, match="not one of the methods"):
        compare(nuts, npe, reference="mcmc")
    with pytest.raises(ConfigurationError, match="c2st_samples"):
        compare(nuts, npe, reference=0, c2st_samples=3)
    other = ParameterSpace([Parameter("D0", 1.0, 100.0, unit="kpc^2/Myr", scale="log"),
                            Parameter("delta", 0.2, 0.8)])
    odd = samples_to_inference_data(draws(4, (50,)), other, method="odd")
    with pytest.raises(ConfigurationError, match="different units"):
        compare(nuts, odd)
    with pytest.raises(ShapeError, match=r"\(n >= 2, 2\)"):
        corner_plot(np.zeros((10, 3)), ["a", "b"])
