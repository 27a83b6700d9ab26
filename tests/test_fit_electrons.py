"""experiments/fit_electrons.py end to end at toy sizes: the README's main job writes its report,
posteriors and plots, and the report states the diagnostics it measured."""
import json

import numpy as np
import pytest

TINY = {"warmup": (20, 20), "samples": (20, 20), "chains": (2, 2), "npe_simulations": (300, 300),
        "smooth_nodes": (48, 48), "target_accept": (0.8, 0.8)}


@pytest.fixture(scope="module")
def fit_electrons(experiment_module):
    return experiment_module("fit_electrons")


def test_main_job_writes_the_report_at_toy_sizes(fit_electrons, tmp_path, monkeypatch):
    monkeypatch.setattr(fit_electrons, "SIZES", TINY)
    out = tmp_path / "report"
    fit_electrons.main(["--quick", "--out", str(out), "--latent", "mixed", "--chain-method", "vectorized",
                        "--target-accept", "0.85"])
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
