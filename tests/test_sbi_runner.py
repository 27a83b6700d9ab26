"""sbi runner and custom potential on a conjugate Gaussian problem with a known posterior.

Problem: theta = (mu, A) with mu ~ U(-3, 3) and A log-uniform on [1e-2, 1e2]; in internal
coordinates u = (mu, log10 A) the data are x ~ N(u, S^2 I). The posterior in u is
N(x_o, S^2 I) truncated at the prior bounds, which lie >= 5 S from x_o (truncation
changes the mean and std by < 1e-5 S).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from crinfer.core import (ConfigurationError, GaussianLikelihood, Observable, ObservationError, Parameter,
                          ParameterSpace, ShapeError)
from crinfer.inference.potential import likelihood_potential, sample_likelihood_posterior
from crinfer.inference.results import posterior_matrix
from crinfer.inference.sbi_runner import run_sbi

S = 0.3
XO = np.array([0.4, -0.5])
PARAMS = ParameterSpace([Parameter("mu", -3.0, 3.0), Parameter("A", 1e-2, 1e2, unit="GV", scale="log")])
OBS = Observable("x", (2,))


class GaussSim:
    """x ~ N((mu, log10 A), S^2 I); records every physical theta it was called with."""

    params = PARAMS
    observable = OBS

    def __init__(self):
        self.calls = []

    def simulate(self, key, theta):
        theta = self.params.validate(theta)
        self.calls.append(theta.copy())
        u = np.stack([theta[:, 0], np.log10(theta[:, 1])], axis=-1)
        return u + S * np.asarray(jax.random.normal(key, u.shape))


def internal(samples):
    return np.stack([samples[:, 0], np.log10(samples[:, 1])], axis=-1)


@pytest.fixture(scope="module")
def npe():
    sim = GaussSim()
    # two affine MAF layers: a conditional Gaussian, the exact family of this posterior
    res = run_sbi(sim, XO, method="NPE", num_simulations=2000, key=0, num_posterior_samples=4000,
                  estimator_kwargs={"hidden_features": 20, "num_transforms": 2},
                  training_kwargs={"training_batch_size": 500, "learning_rate": 3e-3},
                  show_progress=False)
    return res, sim


@pytest.mark.slow
def test_npe_matches_analytic_posterior(npe):
    res, _ = npe
    u = internal(posterior_matrix(res.idata, PARAMS.names))
    # 2,000 simulations: the flow's mean error is a fraction of S; Monte Carlo error 0.005.
    np.testing.assert_allclose(u.mean(0), XO, atol=S / 3)
    np.testing.assert_allclose(u.std(0), [S, S], rtol=0.2)
    A = res.idata.posterior["A"].values.ravel()
    np.testing.assert_allclose(np.median(A), 10 ** XO[1], rtol=10 ** (S / 3) - 1)


@pytest.mark.slow
def test_log_scale_parameter_round_trip_and_no_sbi_logs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res, sim = _tiny(5)
    # the simulator saw physical A (log-uniform on [1e-2, 1e2]) ...
    theta = np.concatenate(sim.calls)
    assert theta.shape == (200, 2)
    assert theta[:, 1].min() >= 1e-2 and theta[:, 1].max() <= 1e2
    assert 0.35 < np.mean(theta[:, 1] < 1.0) < 0.65  # binomial(200, 1/2): 4.2 sigma
    # ... and sbi trained on log10 A: its stored thetas are the internal coordinates.
    stored, _, _ = res.trainer.get_simulations()
    np.testing.assert_allclose(stored.numpy(), internal(theta), atol=1e-5)
    # posterior samples come back in physical units, inside the prior
    PARAMS.validate(posterior_matrix(res.idata, PARAMS.names))
    assert res.idata.posterior["A"].attrs["unit"] == "GV"
    assert res.idata.posterior.attrs["method"] == "NPE"
    # sbi was given a no-op tracker: nothing written to the working directory
    assert list(tmp_path.iterdir()) == []


def _tiny(key, method="NPE", **kw):
    sim = GaussSim()
    res = run_sbi(sim, XO, method=method, num_simulations=200, key=key, num_posterior_samples=50,
                  estimator_kwargs={"hidden_features": 10, "num_transforms": 2} if method != "NRE" else None,
                  training_kwargs={"max_num_epochs": 2}, show_progress=False, **kw)
    return res, sim


@pytest.mark.slow
def test_same_key_same_simulations_and_samples():
    (a, sa), (b, sb), (c, sc) = _tiny(7), _tiny(7), _tiny(8)
    np.testing.assert_array_equal(np.concatenate(sa.calls), np.concatenate(sb.calls))
    np.testing.assert_array_equal(a.trainer.get_simulations()[1].numpy(), b.trainer.get_simulations()[1].numpy())
    np.testing.assert_array_equal(posterior_matrix(a.idata), posterior_matrix(b.idata))
    assert not np.array_equal(np.concatenate(sa.calls), np.concatenate(sc.calls))
    assert not np.array_equal(posterior_matrix(a.idata), posterior_matrix(c.idata))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["NLE", "NRE"])
def test_nle_nre_two_rounds_return_physical_samples(method):
    mcmc = {"num_chains": 4, "warmup_steps": 10, "thin": 1, "init_strategy": "proposal"}
    res, sim = _tiny(3, method, rounds=2, mcmc_parameters=mcmc)
    assert [r["simulations"] for r in res.info["per_round"]] == [100, 100]
    samples = posterior_matrix(res.idata, PARAMS.names)
    assert samples.shape == (50, 2)
    PARAMS.validate(samples)  # physical and inside the prior
    PARAMS.validate(np.concatenate(sim.calls))


@pytest.mark.slow
@pytest.mark.parametrize("proposal", ["apt", "truncated"])
def test_sequential_npe_runs(proposal):
    res, sim = _tiny(4, rounds=2, npe_proposal=proposal)
    assert len(sim.calls) == 2 and res.info["npe_proposal"] == proposal
    PARAMS.validate(posterior_matrix(res.idata, PARAMS.names))


@pytest.mark.slow
def test_ensemble_trains_members_on_the_same_simulations_and_mixes_them():
    (one, s1), (ens, se) = _tiny(9), _tiny(9, ensemble_size=3)
    # the budget is unchanged: one batch of simulations, the same as without an ensemble
    np.testing.assert_array_equal(np.concatenate(s1.calls), np.concatenate(se.calls))
    members = ens.posterior.posteriors
    info = ens.info["per_round"][0]
    assert len(members) == 3 and ens.info["ensemble_size"] == 3 and len(info["member_epochs"]) == 3
    weights = [dict(m.posterior_estimator.state_dict()) for m in members]
    single = one.posterior.posterior_estimator.state_dict()
    assert all(torch.equal(single[k], weights[0][k]) for k in single)  # member 0 = the single network
    assert not all(torch.equal(weights[0][k], weights[1][k]) for k in single)  # others: own init and split
    # the posterior is the equal-weight mixture of the members
    u = torch.tensor([[0.3, -0.4], [0.6, -0.7]])
    x = torch.as_tensor(XO, dtype=torch.float32)[None]
    member_lp = torch.stack([m.log_prob(u, x=x) for m in members])
    expected = torch.logsumexp(member_lp, 0) - np.log(3)
    np.testing.assert_allclose(ens.posterior.log_prob(u, x=x).detach(), expected.detach(), rtol=1e-5)
    # draws are shuffled across members, key-determined and inside the prior
    again, _ = _tiny(9, ensemble_size=3)
    np.testing.assert_array_equal(posterior_matrix(ens.idata), posterior_matrix(again.idata))
    PARAMS.validate(posterior_matrix(ens.idata, PARAMS.names))


def test_bad_observation_is_rejected():
    with pytest.raises(ShapeError, match=r"shape \(2,\)"):
        run_sbi(GaussSim(), np.zeros(3), num_simulations=100, key=0)
    with pytest.raises(ObservationError, match="nan"):
        run_sbi(GaussSim(), np.array([0.0, np.nan]), num_simulations=100, key=0)


def test_bad_configuration_is_rejected():
    with pytest.raises(ConfigurationError, match="SNPE"):
        run_sbi(GaussSim(), XO, method="SNPE", num_simulations=100, key=0)
    with pytest.raises(ConfigurationError, match="rounds"):
        run_sbi(GaussSim(), XO, num_simulations=100, key=0, rounds=0)
    with pytest.raises(ConfigurationError, match="num_simulations"):
        run_sbi(GaussSim(), XO, num_simulations=5, key=0)
    with pytest.raises(ConfigurationError, match="num_transforms=1"):
        run_sbi(GaussSim(), XO, num_simulations=100, key=0, estimator_kwargs={"num_transforms": 1})
    with pytest.raises(ConfigurationError, match="embedding_net"):
        run_sbi(GaussSim(), XO, method="NLE", num_simulations=100, key=0, embedding_net=torch.nn.Identity())
    with pytest.raises(ConfigurationError, match="ensemble_size must be a positive integer, got 0"):
        run_sbi(GaussSim(), XO, num_simulations=100, key=0, ensemble_size=0)
    with pytest.raises(ConfigurationError, match="ensemble_size=2 with rounds=2"):
        run_sbi(GaussSim(), XO, num_simulations=100, key=0, ensemble_size=2, rounds=2)


def _likelihood():
    def mean(theta):
        return jnp.stack([theta[..., 0], jnp.log10(theta[..., 1])], axis=-1)

    return GaussianLikelihood(PARAMS, OBS, mean=mean, cov=np.full(2, S**2))


@pytest.mark.slow
def test_potential_value_and_gradient():
    pot = likelihood_potential(_likelihood(), XO)
    u = torch.tensor([[0.1, 0.2], [1.0, -1.5], [4.0, 0.0]], dtype=torch.float32, requires_grad=True)
    val = pot(u, track_gradients=True)
    z = (XO - u.detach().double().numpy()) / S
    expect = -0.5 * (z**2).sum(1) - 2 * np.log(S) - np.log(2 * np.pi) - np.log(6.0 * 4.0)
    np.testing.assert_allclose(val[:2].detach().numpy(), expect[:2], rtol=1e-5)
    assert val[2].item() == -np.inf  # mu = 4 is outside the prior
    val[:2].sum().backward()
    np.testing.assert_allclose(u.grad[:2].numpy(), z[:2] / S, rtol=1e-4)
    np.testing.assert_array_equal(u.grad[2].numpy(), [0.0, 0.0])


@pytest.mark.slow
def test_custom_potential_short_chains_find_the_posterior():
    idata = sample_likelihood_posterior(_likelihood(), XO, key=1, num_samples=200, num_chains=4,
                                        warmup_steps=30, thin=1, show_progress=False)
    u = internal(posterior_matrix(idata, PARAMS.names))
    # exact likelihood, short correlated chains (ESS >~ 50): 0.05 Monte Carlo error on the mean
    np.testing.assert_allclose(u.mean(0), XO, atol=0.15)
    np.testing.assert_allclose(u.std(0), [S, S], rtol=0.35)


@pytest.mark.slow
def test_custom_potential_samples_analytic_posterior():
    idata = sample_likelihood_posterior(_likelihood(), XO, key=1, num_samples=2000, num_chains=10,
                                        warmup_steps=100, thin=2, show_progress=False)
    u = internal(posterior_matrix(idata, PARAMS.names))
    # exact likelihood: only Monte Carlo error (ESS >~ 500 -> 0.015 on the mean, 5% on the std)
    np.testing.assert_allclose(u.mean(0), XO, atol=0.05)
    np.testing.assert_allclose(u.std(0), [S, S], rtol=0.1)
