"""sbibm benchmark tasks (Lueckmann et al. 2021) behind crinfer's interface.

* :func:`sbibm_simulator` -- the task's simulator as a crinfer ``Simulator`` whose
  ``ParameterSpace`` is the task's prior (normal for gaussian_linear, uniform otherwise);
* :func:`sbibm_exact_likelihood` -- the exact likelihood of gaussian_linear as a
  ``GaussianLikelihood`` (x ~ N(theta, 0.1 I));
* :func:`observation`, :func:`reference_samples` -- sbibm's observations 1-10 and their
  reference posterior samples.

sbibm draws from torch's global generator; simulations here are seeded from the key
(see :func:`crinfer.inference.sbi_runner.seeded`), so the same key gives the same data.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from ..core.errors import ConfigurationError
from ..core.likelihoods import GaussianLikelihood
from ..core.parameters import Parameter, ParameterSpace
from ..core.protocols import Observable
from .sbi_runner import seeded

TASKS = ("gaussian_linear", "two_moons", "slcp")


@functools.lru_cache(maxsize=None)
def _task(name: str):
    if name not in TASKS:
        raise ConfigurationError(f"sbibm task {name!r} is not supported; supported: {TASKS}")
    import sbibm

    return sbibm.get_task(name)


def task_parameter_space(name: str) -> ParameterSpace:
    """The task's prior as a ParameterSpace with parameters ``theta_1 .. theta_P``.

    A diagonal-precision MultivariateNormal prior becomes independent normal parameters
    (``scale_sd = precision**-0.5``); a box prior becomes uniform parameters.
    """
    task = _task(name)
    prior = task.get_prior_params()
    dim = task.dim_parameters
    names = [f"theta_{i + 1}" for i in range(dim)]
    if "precision_matrix" in prior:
        prec = prior["precision_matrix"].double().numpy()
        if not np.allclose(prec, np.diag(np.diag(prec))):
            raise ConfigurationError(f"task {name!r}: only a diagonal normal prior is supported")
        loc = prior["loc"].double().numpy()
        return ParameterSpace(
            Parameter(n, -math.inf, math.inf, prior="normal", loc=float(m), scale_sd=float(p ** -0.5))
            for n, m, p in zip(names, loc, np.diag(prec))
        )
    low, high = prior["low"].double().numpy(), prior["high"].double().numpy()
    return ParameterSpace(Parameter(n, float(lo), float(hi)) for n, lo, hi in zip(names, low, high))


@dataclass(frozen=True)
class SbibmSimulator:
    """An sbibm task's simulator as a crinfer Simulator (physical = sbibm's parameters)."""

    task_name: str
    params: ParameterSpace
    observable: Observable

    def simulate(self, key, theta) -> np.ndarray:
        """``(B, P)`` parameters -> ``(B, dim_data)`` float64 data; same key, same data."""
        theta = self.params.validate(theta)
        simulator = _task(self.task_name).get_simulator()
        with seeded(key):
            x = simulator(torch.as_tensor(theta, dtype=torch.float32))
        return x.detach().double().numpy().reshape(theta.shape[0], *self.observable.shape)


def sbibm_simulator(name: str) -> SbibmSimulator:
    """The simulator of sbibm task ``name`` (one of :data:`TASKS`)."""
    task = _task(name)
    observable = Observable(name=f"{name} data", shape=(task.dim_data,),
                            labels=tuple(task.get_labels_data()))
    return SbibmSimulator(task_name=name, params=task_parameter_space(name), observable=observable)


def sbibm_exact_likelihood(name: str = "gaussian_linear") -> GaussianLikelihood:
    """The exact likelihood of gaussian_linear: ``x ~ N(theta, Sigma)``, Sigma from sbibm (0.1 I)."""
    if name != "gaussian_linear":
        raise ConfigurationError(f"an exact likelihood is provided for 'gaussian_linear' only, got {name!r}")
    task = _task(name)
    sim = sbibm_simulator(name)
    cov = np.linalg.inv(task.simulator_params["precision_matrix"].double().numpy())
    return GaussianLikelihood(sim.params, sim.observable, mean=lambda theta: theta, cov=cov)


def observation(name: str, num_observation: int) -> np.ndarray:
    """sbibm's observation ``num_observation`` (1-10) of task ``name``, shape ``(dim_data,)``."""
    _check_observation(num_observation)
    return _task(name).get_observation(num_observation).double().numpy().reshape(-1)


def reference_samples(name: str, num_observation: int) -> np.ndarray:
    """sbibm's reference posterior samples (10,000 x P) for observation ``num_observation``."""
    _check_observation(num_observation)
    return _task(name).get_reference_posterior_samples(num_observation).double().numpy()


def _check_observation(num_observation) -> None:
    if not isinstance(num_observation, (int, np.integer)) or not 1 <= num_observation <= 10:
        raise ConfigurationError(f"num_observation must be an integer in 1..10, got {num_observation!r}")
