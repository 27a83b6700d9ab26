"""experiments/fit_electrons.py end to end at toy sizes: the README's main job writes its report,
posteriors and plots, and the report states the diagnostics it measured."""
import json
from pathlib import Path

import numpy as np
import pytest

from crinfer.emulators.made import MADEEmulator

ROOT = Path(__file__).resolve().parents[1]

TINY = {"warmup": (20, 20), "samples": (20, 20), "chains": (2, 2), "npe_simulations": (300, 300),
        "smooth_nodes": (48, 48), "target_accept": (0.8, 0.8)}


@pytest.fixture(scope="module")
def fit_electrons(experiment_module):
    return experiment_module("fit_electrons")


def test_main_job_writes_the_report_at_toy_sizes(fit_electrons, tmp_path, monkeypatch):
    monkeypatch.setattr(fit_electrons, "SIZES", TINY)
    out = tmp_path / "report"
    # the CPU-sized SECRET: with the default (thinner ridges) the toy chains took 4-8 min (suite 16 min)
    fit_electrons.main(["--quick", "--out", str(out), "--latent", "mixed", "--chain-method", "vectorized",
                        "--target-accept", "0.85", "--secret", str(ROOT / "emulators" / "secret_cpu")])
    for name in ("report.md", "summary.json", "corner.png", "spectrum.png",
                 "posterior_stochastic.nc", "posterior_smooth.nc", "posterior_npe.nc"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sizes"]["samples"] == 20 and summary["centred_bins"] == fit_electrons.CENTRED_BINS
    assert summary["sizes"]["target_accept"] == 0.85
    for fit in ("stochastic", "smooth"):
        d = summary["diagnostics"][fit]
        assert np.isfinite([d["r_hat_max"], d["ess_bulk_min"], d["steps_mean"]]).all() and d["steps_mean"] >= 1
        assert 0 < summary["chi2_at_median"][fit] < np.inf
    report = (out / "report.md").read_text()
    r_hat = summary["diagnostics"]["stochastic"]["r_hat_max"]
    assert f"| {r_hat:.3f} |" in report
    assert len(summary["secret_conditional_sd"]["sd"]) == 19


def test_default_secret_is_the_shipped_one_on_the_fit_s_energy_grid(fit_electrons):
    """The fit's default SECRET loads with the guard refusing, is conditional on the fit's five
    source parameters and emulates 19 bins over 10^1.5-10^4.5 GeV."""
    path = fit_electrons.parse_args(["--out", "x"]).secret
    assert path == ROOT / "emulators" / "secret_lhs_197k_trend5"
    secret = MADEEmulator.load(path, guard="refuse")
    assert list(secret.params.names) == ["R_SN", "log10_E_cut", "gamma", "delta", "kappa0"]
    np.testing.assert_allclose(np.log10(np.asarray(secret.observable.grid))[[0, -1]], [1.5, 4.5], atol=1e-12)
    assert len(secret.observable.grid) == 19


def test_latent_defaults_centred_when_quick_mixed_for_the_acceptance_run(fit_electrons):
    assert fit_electrons.parse_args(["--quick", "--out", "x"]).latent == "centred"
    assert fit_electrons.parse_args(["--out", "x"]).latent == "mixed"
    assert fit_electrons.parse_args(["--out", "x", "--latent", "noise"]).latent == "noise"


def test_target_accept_option_overrides_the_size_and_refuses_values_outside_0_1(fit_electrons, capsys):
    assert fit_electrons.parse_args(["--out", "x"]).target_accept is None
    assert fit_electrons.parse_args(["--out", "x", "--target-accept", "0.97"]).target_accept == 0.97
    for bad in ("1.0", "0", "-0.5"):
        with pytest.raises(SystemExit):
            fit_electrons.parse_args(["--out", "x", "--target-accept", bad])
        assert f"--target-accept {float(bad)} must be in (0, 1)" in capsys.readouterr().err
