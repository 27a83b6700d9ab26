"""sbibm adapters (priors, simulators, exact likelihood) and a smoke run of experiments/sbibm_check.py."""
import json
import math

import jax
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from crinfer.core import ConfigurationError
from crinfer.inference import sbibm_tasks as tasks


@pytest.mark.slow
def test_task_priors_match_sbibm():
    gl = tasks.task_parameter_space("gaussian_linear")
    assert len(gl) == 10
    assert all(p.prior == "normal" and p.loc == 0.0 and math.isclose(p.scale_sd, math.sqrt(0.1), rel_tol=1e-6)
               for p in gl)
    tm = tasks.task_parameter_space("two_moons")
    assert tm.names == ("theta_1", "theta_2")
    np.testing.assert_array_equal(tm.low, [-1, -1]) and np.testing.assert_array_equal(tm.high, [1, 1])
    slcp = tasks.task_parameter_space("slcp")
    np.testing.assert_array_equal(slcp.low, [-3] * 5)
    np.testing.assert_array_equal(slcp.high, [3] * 5)
    with pytest.raises(ConfigurationError, match="sir"):
        tasks.sbibm_simulator("sir")


def test_simulators_are_key_deterministic_with_the_right_shapes():
    for name, dim_x in (("gaussian_linear", 10), ("two_moons", 2), ("slcp", 8)):
        sim = tasks.sbibm_simulator(name)
        theta = sim.params.sample_prior(0, 5)
        a = sim.simulate(jax.random.PRNGKey(1), theta)
        b = sim.simulate(jax.random.PRNGKey(1), theta)
        c = sim.simulate(jax.random.PRNGKey(2), theta)
        assert a.shape == (5, dim_x)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


def test_gaussian_linear_noise_is_sqrt_point_one():
    sim = tasks.sbibm_simulator("gaussian_linear")
    theta = np.full((4000, 10), 0.3)
    resid = sim.simulate(0, theta) - theta
    # 40,000 draws: std of the std estimate is 0.35 %
    np.testing.assert_allclose(resid.std(), math.sqrt(0.1), rtol=0.015)
    assert abs(resid.mean()) < 0.01


@pytest.mark.slow
def test_exact_likelihood_and_conjugate_posterior_match_sbibm_reference():
    lik = tasks.sbibm_exact_likelihood("gaussian_linear")
    x = tasks.observation("gaussian_linear", 1)
    theta = np.linspace(-0.5, 0.5, 10)
    np.testing.assert_allclose(float(lik.log_prob(x, theta)),
                               multivariate_normal(theta, 0.1 * np.eye(10)).logpdf(x), rtol=1e-10)
    # prior N(0, 0.1 I) x likelihood N(theta, 0.1 I): posterior N(x/2, 0.05 I)
    ref = tasks.reference_samples("gaussian_linear", 1)
    assert ref.shape == (10_000, 10)
    np.testing.assert_allclose(ref.mean(0), x / 2, atol=0.01)  # MC error 0.0022
    np.testing.assert_allclose(ref.std(0), math.sqrt(0.05), rtol=0.04)
    with pytest.raises(ConfigurationError, match="gaussian_linear"):
        tasks.sbibm_exact_likelihood("slcp")
    with pytest.raises(ConfigurationError, match="1..10"):
        tasks.observation("slcp", 11)


def test_published_table_covers_every_sbi_method(experiment_module):
    mod = experiment_module("sbibm_check")
    for task, methods in mod.METHODS.items():
        for method in methods:
            if method == "NUTS":
                continue
            for table in (mod.PUBLISHED, mod.PUBLISHED_OBS123):
                values = table[task][method]
                assert set(values) == {1000, 10_000, 100_000}
                assert all(0.5 <= v <= 1.0 for v in values.values())
                # more simulations never made the published mean worse on these tasks
                assert values[1000] >= values[10_000] >= values[100_000]


@pytest.mark.slow
def test_experiment_smoke(tmp_path, experiment_module):
    mod = experiment_module("sbibm_check")
    mod.main(["--quick", "--out", str(tmp_path), "--num-simulations", "300", "--posterior-samples", "200",
              "--c2st-samples", "200", "--max-epochs", "3", "--mcmc-chains", "4", "--nuts-warmup", "100",
              "--no-progress"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary.keys() == {"gaussian_linear", "two_moons", "slcp"}
    assert summary["gaussian_linear"].keys() == {"NUTS", "NPE"}
    assert summary["two_moons"].keys() == summary["slcp"].keys() == {"NPE", "NLE", "NRE"}
    assert all(0.0 <= v <= 1.0 for ms in summary.values() for v in ms.values())
    assert summary["gaussian_linear"]["NUTS"] < 0.6  # exact likelihood: indistinguishable
    report = (tmp_path / "report.md").read_text()
    assert "| two_moons | NLE |" in report
    for stem in ("gaussian_linear_NUTS_obs1", "slcp_NRE_obs1"):
        assert (tmp_path / f"{stem}.nc").stat().st_size > 0
        assert (tmp_path / f"{stem}.png").stat().st_size > 0


def _fake_part(path, task, method, obs_c2st, settings_seed=0):
    path.mkdir()
    run = {"observations": {str(o): {"c2st": c, "c2st_sbi": c + 0.01, "c2st_samples": 10, "sample_seconds": 1.0,
                                     "c2st_seconds": 1.0}
                            for o, c in obs_c2st.items()},
           "train_seconds": 5.0, "mean_c2st": float(np.mean(list(obs_c2st.values())))}
    settings = {"command": "x", "num_simulations": 10_000, "observations": sorted(obs_c2st), "seed": settings_seed,
                "c2st_classifiers": "both"}
    (path / "results.json").write_text(json.dumps({"settings": settings, "runs": {task: {method: run}},
                                                   "total_seconds": 10.0}))
    return path


def test_merge_combines_partial_runs_and_refuses_mismatched_settings(tmp_path, experiment_module):
    mod = experiment_module("sbibm_check")
    a = _fake_part(tmp_path / "a", "two_moons", "NPE", {1: 0.60, 2: 0.62})
    b = _fake_part(tmp_path / "b", "two_moons", "NPE", {3: 0.64})
    c = _fake_part(tmp_path / "c", "slcp", "NLE", {1: 0.70})
    out = tmp_path / "merged"
    mod.main(["--merge", str(a), str(b), str(c), "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["two_moons"]["NPE"] == pytest.approx(0.62)
    assert summary["slcp"]["NLE"] == pytest.approx(0.70)
    report = (out / "report.md").read_text()
    assert "| two_moons | NPE | 0.600 | 0.620 | 0.640 | 0.620 | 0.606 | 0.586 | above published | 0.630 |" in report
    assert "| slcp | NLE | 0.700 | - | - | 0.700 | 0.771 | 0.749 | pass | 0.710 |" in report
    bad = _fake_part(tmp_path / "bad", "slcp", "NRE", {1: 0.9}, settings_seed=1)
    with pytest.raises(SystemExit, match="settings differ"):
        mod.main(["--merge", str(a), str(bad), "--out", str(tmp_path / "m2")])
    old = _fake_part(tmp_path / "old", "slcp", "NRE", {1: 0.9})
    json_path = old / "results.json"
    res = json.loads(json_path.read_text())
    del res["settings"]["c2st_classifiers"]  # a run from before the two classifiers
    json_path.write_text(json.dumps(res))
    with pytest.raises(SystemExit, match="rescore"):
        mod.main(["--merge", str(a), str(old), "--out", str(tmp_path / "m3")])


def test_npe_estimator_option_sets_the_npe_estimator_and_the_report_settings(experiment_module):
    mod = experiment_module("sbibm_check")
    default = mod.parse_args(["--out", "x"])
    assert mod._estimators(default) == {"NPE": "nsf", "NLE": "maf", "NRE": "resnet"}  # sbibm's published choice
    mdn = mod.parse_args(["--out", "x", "--npe-estimator", "mdn"])
    assert mod._estimators(mdn)["NPE"] == "mdn" and mod._settings(mdn)["estimators"]["NPE"] == "mdn"
    with pytest.raises(SystemExit):
        mod.parse_args(["--out", "x", "--npe-estimator", "gmm"])


def test_rescore_reproduces_the_run_from_its_stored_samples(tmp_path, experiment_module):
    mod = experiment_module("sbibm_check")
    run_dir, again = tmp_path / "run", tmp_path / "again"
    mod.main(["--tasks", "gaussian_linear", "--methods", "NUTS", "--observations", "2", "--out", str(run_dir),
              "--posterior-samples", "200", "--nuts-warmup", "100", "--no-progress"])
    mod.main(["--rescore", str(run_dir), "--out", str(again)])
    first = json.loads((run_dir / "results.json").read_text())["runs"]["gaussian_linear"]["NUTS"]
    second = json.loads((again / "results.json").read_text())
    rescored = second["runs"]["gaussian_linear"]["NUTS"]
    for key in ("c2st", "c2st_sbi", "c2st_samples", "sample_seconds"):  # same subsamples, same classifiers
        assert rescored["observations"]["2"][key] == first["observations"]["2"][key]
    assert 0.3 < first["observations"]["2"]["c2st"] < 0.65  # exact likelihood: near 0.5 at 200 samples
    assert second["settings"]["rescored_from"]["folder"] == str(run_dir)
    assert (again / "gaussian_linear_NUTS_obs2.nc").exists() and (again / "gaussian_linear_NUTS_obs2.png").exists()
    with pytest.raises(SystemExit, match="another folder"):
        mod.main(["--rescore", str(run_dir), "--out", str(run_dir)])
    mod.main(["--rescore", str(run_dir), "--out", str(tmp_path / "npe_only"), "--methods", "NPE"])
    assert json.loads((tmp_path / "npe_only" / "summary.json").read_text()) == {}  # the run had no NPE
