"""sbi runner: NPE / NLE / NRE on a crinfer Simulator, results as InferenceData.

sbi works in *internal* coordinates (log10 on log-scale parameters) with the prior of
``params.sbi_prior()``; every theta sbi proposes is mapped with ``params.from_internal``
before ``simulator.simulate`` and posterior samples are mapped back to physical units.

Randomness: one JAX key. It is split into one key per round plus one for the final
posterior draws; each round key into (proposal draws, simulations, training). sbi draws
from torch's and NumPy's global generators, so those are seeded from the key inside
:func:`seeded` and restored afterwards.

sbi writes TensorBoard logs to ``./sbi-logs`` unless it is given a tracker; every trainer
built here gets a :class:`NullTracker`.
"""
from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np
import torch

from ..core.errors import ConfigurationError, ShapeError
from ..core.protocols import Simulator
from ..core.rng import as_key, key_to_seed
from .results import samples_to_inference_data

METHODS = ("NPE", "NLE", "NRE")
NPE_PROPOSALS = ("apt", "truncated")
_DEFAULT_ESTIMATOR = {"NPE": "maf", "NLE": "maf", "NRE": "resnet"}
DEFAULT_MCMC = {"num_chains": 20, "thin": 5, "warmup_steps": 100, "init_strategy": "resample"}


class NullTracker:
    """An sbi ``Tracker`` that records nothing (so sbi never creates ``./sbi-logs``)."""

    log_dir = None

    def log_metric(self, name, value, step=None) -> None:
        pass

    def log_metrics(self, metrics, step=None) -> None:
        pass

    def log_params(self, params) -> None:
        pass

    def add_figure(self, name, figure, step=None) -> None:
        pass

    def flush(self) -> None:
        pass


@contextlib.contextmanager
def seeded(key):
    """Seed torch's and NumPy's global generators from ``key``; restore both on exit."""
    seed = key_to_seed(key)
    np_state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            np.random.set_state(np_state)


@dataclass
class SbiResult:
    """What :func:`run_sbi` / :func:`train_sbi` return.

    Attributes:
        posterior: the sbi posterior over *internal* coordinates (default x set by run_sbi).
        idata: posterior samples in physical units (``None`` from :func:`train_sbi`).
        trainer: the sbi inference object (holds the simulations and the network).
        info: per-round bookkeeping: simulations, invalid simulations, epochs, losses, seconds.
    """

    posterior: Any
    idata: Any
    trainer: Any
    info: dict = field(default_factory=dict)


def run_sbi(simulator: Simulator, x_obs, *, method: str = "NPE", num_simulations: int, key,
            rounds: int = 1, num_posterior_samples: int = 10_000, batch_size: int = 1000,
            device: str = "cpu", density_estimator: str | None = None, embedding_net=None,
            estimator_kwargs: dict | None = None, training_kwargs: dict | None = None,
            npe_proposal: str = "apt", mcmc_method: str = "slice_np_vectorized",
            mcmc_parameters: dict | None = None, ensemble_size: int = 1,
            show_progress: bool = True) -> SbiResult:
    """Posterior of ``simulator.params`` given ``x_obs`` by NPE, NLE or NRE.

    Args:
        simulator: a crinfer Simulator (physical parameters in, ``(B, *shape)`` out).
        x_obs: the observation, shape ``simulator.observable.shape``.
        method: ``"NPE"`` (NPE-C), ``"NLE"`` (NLE-A) or ``"NRE"`` (NRE-B).
        num_simulations: total simulation budget, split evenly over ``rounds``.
        key: JAX key or int seed.
        rounds: 1 = amortised; > 1 = sequential for ``x_obs`` (NPE: APT or truncated
            proposals, ``npe_proposal``; NLE/NRE: the last posterior as proposal).
        num_posterior_samples: draws returned in ``idata``.
        batch_size: simulations per ``simulate`` call.
        density_estimator: sbi model name (NPE/NLE: "maf", "nsf", "mdn", ...; NRE classifier:
            "resnet", "mlp", "linear"); default maf / maf / resnet.
        embedding_net: torch module embedding x (NPE and NRE only).
        estimator_kwargs: passed to sbi's posterior_nn / likelihood_nn / classifier_nn
            (e.g. ``hidden_features``, ``num_transforms``).
        training_kwargs: passed to the trainer's ``train`` (e.g. ``training_batch_size``).
        mcmc_method, mcmc_parameters: sampler of NLE/NRE posteriors (sbi MCMCPosterior);
            parameters default to :data:`DEFAULT_MCMC`.
        ensemble_size: networks trained on the same simulations (same budget), each with its
            own initialisation and train/validation split; the posterior is their equal-weight
            mixture (sbi's EnsemblePosterior). Single round only.
        show_progress: sbi's training/sampling bars and the simulation bar.

    Raises:
        ShapeError / ObservationError: ``x_obs`` has the wrong shape or non-finite entries.
        ConfigurationError: an unknown method, proposal, a non-positive count, or an ensemble
            with more than one round.
    """
    x = simulator.observable.validate(x_obs)
    _check_rounds(rounds, num_simulations)
    _check_ensemble(ensemble_size, rounds)
    keys = jax.random.split(as_key(key), rounds + 1)
    fit = _fit(simulator, x, method=method, num_simulations=num_simulations, round_keys=keys[:rounds],
               batch_size=batch_size, device=device, density_estimator=density_estimator,
               embedding_net=embedding_net, estimator_kwargs=estimator_kwargs,
               training_kwargs=training_kwargs, npe_proposal=npe_proposal, mcmc_method=mcmc_method,
               mcmc_parameters=mcmc_parameters, ensemble_size=ensemble_size, show_progress=show_progress)
    t0 = time.perf_counter()
    fit.idata = sample_posterior(fit.posterior, simulator.params, x, key=keys[rounds],
                                 num_samples=num_posterior_samples, show_progress=show_progress,
                                 method=method, attrs=_attrs(fit.info))
    fit.info["sampling_seconds"] = time.perf_counter() - t0
    return fit


def train_sbi(simulator: Simulator, *, method: str = "NPE", num_simulations: int, key,
              batch_size: int = 1000, device: str = "cpu", density_estimator: str | None = None,
              embedding_net=None, estimator_kwargs: dict | None = None,
              training_kwargs: dict | None = None, mcmc_method: str = "slice_np_vectorized",
              mcmc_parameters: dict | None = None, ensemble_size: int = 1,
              show_progress: bool = True) -> SbiResult:
    """One amortised round: simulate from the prior, train; sample later with :func:`sample_posterior`.

    Same key handling as :func:`run_sbi` with ``rounds=1``: ``run_sbi(key=k)`` trains the same
    network(s) and then samples with ``jax.random.split(k, 2)[1]``. ``idata`` is ``None``.
    """
    _check_rounds(1, num_simulations)
    _check_ensemble(ensemble_size, 1)
    keys = jax.random.split(as_key(key), 2)
    return _fit(simulator, None, method=method, num_simulations=num_simulations, round_keys=keys[:1],
                batch_size=batch_size, device=device, density_estimator=density_estimator,
                embedding_net=embedding_net, estimator_kwargs=estimator_kwargs,
                training_kwargs=training_kwargs, npe_proposal="apt", mcmc_method=mcmc_method,
                mcmc_parameters=mcmc_parameters, ensemble_size=ensemble_size, show_progress=show_progress)


def sample_posterior(posterior, params, x_obs, *, key, num_samples: int, show_progress: bool = True,
                     method: str = "sbi", attrs: dict | None = None):
    """Draw ``num_samples`` from an sbi posterior (internal coordinates) at ``x_obs``.

    Returns InferenceData in physical units (one variable per parameter).
    """
    if not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ConfigurationError(f"num_samples must be a positive integer, got {num_samples!r}")
    x_t = torch.as_tensor(np.asarray(x_obs, dtype=np.float32)[None])
    with seeded(key):
        theta = posterior.sample((int(num_samples),), x=x_t, show_progress_bars=show_progress)
        if _is_ensemble(posterior):  # its draws come grouped by member
            theta = theta[torch.randperm(theta.shape[0])]
    phys = params.from_internal(theta.detach().cpu().double().numpy())
    return samples_to_inference_data(phys, params, method=method, attrs=attrs)


def simulate_internal(simulator: Simulator, theta_internal: torch.Tensor, *, key, batch_size: int,
                      show_progress: bool = False) -> torch.Tensor:
    """Simulate at internal-coordinate parameters in batches; return float32 ``(N, *shape)``.

    Batch ``i`` uses the ``i``-th key of ``jax.random.split(key, n_batches)``.
    """
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigurationError(f"batch_size must be a positive integer, got {batch_size!r}")
    params, shape = simulator.params, simulator.observable.shape
    phys = params.from_internal(theta_internal.detach().cpu().double().numpy())
    n = phys.shape[0]
    n_batches = -(-n // batch_size)
    keys = jax.random.split(as_key(key), n_batches)
    out = []
    for i in _progress(range(n_batches), show_progress, "Simulating"):
        chunk = phys[i * batch_size:(i + 1) * batch_size]
        x = simulator.simulate(keys[i], chunk)
        x = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float32)
        if x.shape != (chunk.shape[0], *shape):
            raise ShapeError(
                f"simulator returned shape {x.shape} for {chunk.shape[0]} parameter sets; "
                f"expected {(chunk.shape[0], *shape)}"
            )
        out.append(x)
    return torch.from_numpy(np.concatenate(out))


# -- internals ----------------------------------------------------------------

def _fit(simulator, x, *, method, num_simulations, round_keys, batch_size, device, density_estimator,
         embedding_net, estimator_kwargs, training_kwargs, npe_proposal, mcmc_method, mcmc_parameters,
         ensemble_size, show_progress) -> SbiResult:
    if not isinstance(simulator, Simulator):
        raise TypeError(f"simulator must implement crinfer's Simulator protocol, got {type(simulator).__name__}")
    if method not in METHODS:
        raise ConfigurationError(f"method {method!r} is not one of {METHODS}")
    if npe_proposal not in NPE_PROPOSALS:
        raise ConfigurationError(f"npe_proposal {npe_proposal!r} is not one of {NPE_PROPOSALS}")
    params = simulator.params
    prior = params.sbi_prior(device=device)
    embedding_nets = [embedding_net] + [copy.deepcopy(embedding_net) for _ in range(ensemble_size - 1)]
    trainer = _make_trainer(method, prior, device=device, density_estimator=density_estimator,
                            embedding_net=embedding_nets[0], estimator_kwargs=estimator_kwargs,
                            show_progress=show_progress)
    mcmc = {**DEFAULT_MCMC, **(mcmc_parameters or {})}
    rounds = len(round_keys)
    per_round = _split_budget(num_simulations, rounds)
    x_t = None if x is None else torch.as_tensor(np.asarray(x, dtype=np.float32)[None], device=device)
    info = {"method": method, "num_simulations": int(num_simulations), "rounds": rounds,
            "ensemble_size": int(ensemble_size),
            "density_estimator": density_estimator or _DEFAULT_ESTIMATOR[method],
            "npe_proposal": npe_proposal if method == "NPE" and rounds > 1 else "",
            "mcmc_method": mcmc_method if method != "NPE" else "", "per_round": []}
    proposal, posterior = prior, None
    for r, rkey in enumerate(round_keys):
        k_prop, k_sim, k_train = jax.random.split(rkey, 3)
        t0 = time.perf_counter()
        theta = _draw_theta(params, proposal, r, per_round[r], k_prop, show_progress)
        t1 = time.perf_counter()
        xs = simulate_internal(simulator, theta, key=k_sim, batch_size=batch_size, show_progress=show_progress)
        n_invalid = int((~torch.isfinite(xs.reshape(xs.shape[0], -1))).any(dim=1).sum())
        if n_invalid == xs.shape[0]:
            raise ConfigurationError(f"round {r}: all {n_invalid} simulations contain NaN/inf")
        t2 = time.perf_counter()
        theta, xs = theta.to(device), xs.to(device)
        if method == "NPE":
            trainer.append_simulations(theta, xs, proposal=None if r == 0 else proposal, exclude_invalid_x=True)
        else:
            trainer.append_simulations(theta, xs, exclude_invalid_x=True, from_round=r)
        tk = dict(training_kwargs or {})
        if method == "NPE" and r > 0 and npe_proposal == "truncated":
            tk.setdefault("force_first_round_loss", True)
        with seeded(k_train):
            estimator = trainer.train(**tk)
        posterior = _build_posterior(trainer, method, estimator, mcmc_method, mcmc)
        summary = trainer.summary
        round_info = {"epochs": int(summary["epochs_trained"][-1]),
                      "best_validation_loss": float(summary["best_validation_loss"][-1])}
        if ensemble_size > 1:
            members = [(trainer, posterior)] + [
                _train_member(method, prior, theta, xs, k_train, m, device=device,
                              density_estimator=density_estimator, embedding_net=embedding_nets[m],
                              estimator_kwargs=estimator_kwargs, training_kwargs=tk, mcmc_method=mcmc_method,
                              mcmc=mcmc, show_progress=show_progress)
                for m in range(1, ensemble_size)]
            from sbi.inference.posteriors.ensemble_posterior import EnsemblePosterior

            posterior = EnsemblePosterior([p for _, p in members], device=device)
            round_info.update(
                member_epochs=[int(t.summary["epochs_trained"][-1]) for t, _ in members],
                member_best_validation_loss=[float(t.summary["best_validation_loss"][-1]) for t, _ in members])
        t3 = time.perf_counter()
        if x_t is not None:
            posterior.set_default_x(x_t)
        info["per_round"].append({
            "simulations": int(theta.shape[0]), "invalid": n_invalid, **round_info,
            "proposal_seconds": t1 - t0, "simulation_seconds": t2 - t1, "training_seconds": t3 - t2,
        })
        if r + 1 < rounds:
            proposal = _next_proposal(method, npe_proposal, posterior, prior, device)
    return SbiResult(posterior=posterior, idata=None, trainer=trainer, info=info)


def _make_trainer(method, prior, *, device, density_estimator, embedding_net, estimator_kwargs, show_progress):
    from sbi.inference import NLE_A, NPE_C, NRE_B
    from sbi.neural_nets import classifier_nn, likelihood_nn, posterior_nn

    model = density_estimator or _DEFAULT_ESTIMATOR[method]
    kw = dict(estimator_kwargs or {})
    if method in ("NPE", "NLE") and model == "maf" and kw.get("num_transforms", 5) < 2:
        # nflows' MADE connects the first variable's output to no hidden unit, so with a single
        # transform that variable is modelled without its condition (x for NPE, theta for NLE).
        raise ConfigurationError(
            f"num_transforms={kw['num_transforms']} for a MAF: the first variable would ignore the "
            "conditioning input (nflows MADE masks); use num_transforms >= 2"
        )
    common = {"prior": prior, "device": device, "tracker": NullTracker(), "show_progress_bars": show_progress}
    if method == "NPE":
        if embedding_net is not None:
            kw["embedding_net"] = embedding_net
        return NPE_C(density_estimator=posterior_nn(model=model, **kw), **common)
    if method == "NLE":
        if embedding_net is not None:
            raise ConfigurationError(
                "embedding_net embeds x and is supported for NPE and NRE only; NLE models p(x | theta) on raw x"
            )
        return NLE_A(density_estimator=likelihood_nn(model=model, **kw), **common)
    if embedding_net is not None:
        kw["embedding_net_x"] = embedding_net
    return NRE_B(classifier=classifier_nn(model=model, **kw), **common)


def _train_member(method, prior, theta, xs, k_train, m, *, device, density_estimator, embedding_net,
                  estimator_kwargs, training_kwargs, mcmc_method, mcmc, show_progress):
    """Ensemble member ``m`` (>= 1): a fresh network on the same simulations, trained under
    ``fold_in(k_train, m)`` -> (trainer, posterior)."""
    trainer = _make_trainer(method, prior, device=device, density_estimator=density_estimator,
                            embedding_net=embedding_net, estimator_kwargs=estimator_kwargs,
                            show_progress=show_progress)
    if method == "NPE":
        trainer.append_simulations(theta, xs, exclude_invalid_x=True)
    else:
        trainer.append_simulations(theta, xs, exclude_invalid_x=True, from_round=0)
    with seeded(jax.random.fold_in(k_train, m)):
        estimator = trainer.train(**training_kwargs)
    return trainer, _build_posterior(trainer, method, estimator, mcmc_method, mcmc)


def _is_ensemble(posterior) -> bool:
    from sbi.inference.posteriors.ensemble_posterior import EnsemblePosterior

    return isinstance(posterior, EnsemblePosterior)


def _build_posterior(trainer, method, estimator, mcmc_method, mcmc):
    if method == "NPE":
        return trainer.build_posterior(estimator)
    return trainer.build_posterior(estimator, sample_with="mcmc", mcmc_method=mcmc_method,
                                   mcmc_parameters=dict(mcmc))


def _draw_theta(params, proposal, r, n, key, show_progress) -> torch.Tensor:
    """Round 0: crinfer's prior sampler (key-determined); later: the sbi proposal, seeded."""
    if r == 0:
        theta = params.to_internal(params.sample_prior(key, int(n)))
        return torch.as_tensor(np.asarray(theta, dtype=np.float32))
    with seeded(key):
        return proposal.sample((int(n),), show_progress_bars=show_progress).detach().cpu().float()


def _next_proposal(method, npe_proposal, posterior, prior, device):
    if method == "NPE" and npe_proposal == "truncated":
        from sbi.utils import RestrictedPrior, get_density_thresholder

        accept = get_density_thresholder(posterior, quantile=1e-4, num_samples_to_estimate_support=100_000)
        return RestrictedPrior(prior, accept, sample_with="rejection", device=device)
    return posterior


def _check_ensemble(ensemble_size, rounds) -> None:
    if not isinstance(ensemble_size, (int, np.integer)) or ensemble_size < 1:
        raise ConfigurationError(f"ensemble_size must be a positive integer, got {ensemble_size!r}")
    if ensemble_size > 1 and rounds > 1:
        raise ConfigurationError(
            f"ensemble_size={ensemble_size} with rounds={rounds}: ensembles are single-round (amortised) only")


def _split_budget(total: int, rounds: int) -> list[int]:
    base, extra = divmod(int(total), rounds)
    return [base + (1 if r < extra else 0) for r in range(rounds)]


def _check_rounds(rounds, num_simulations) -> None:
    if not isinstance(rounds, (int, np.integer)) or rounds < 1:
        raise ConfigurationError(f"rounds must be a positive integer, got {rounds!r}")
    if not isinstance(num_simulations, (int, np.integer)) or num_simulations < 10 * rounds:
        raise ConfigurationError(
            f"num_simulations must be an integer >= 10 per round ({10 * rounds} for {rounds} round(s)), "
            f"got {num_simulations!r}"
        )


def _attrs(info: dict) -> dict:
    """NetCDF-safe attributes of a run (strings and numbers only)."""
    return {k: v for k, v in info.items() if isinstance(v, (str, int, float))}


def _progress(it, show: bool, desc: str):
    if not show:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc=desc)
