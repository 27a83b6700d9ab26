"""NumPyro runner: NUTS on a Likelihood (or any NumPyro model), results as InferenceData."""
from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
import numpy as np

from ..core.protocols import Likelihood
from ..core.rng import as_key
from .results import annotate_units


def likelihood_model(likelihood: Likelihood, x_obs) -> Callable[[], None]:
    """A NumPyro model: theta from the ParameterSpace prior, ``numpyro.factor`` of the log-likelihood.

    ``x_obs`` is validated against ``likelihood.observable`` (shape, finiteness) before use.
    """
    import numpyro

    x = jnp.asarray(likelihood.observable.validate(x_obs))

    def model():
        theta = likelihood.params.numpyro_sample()
        numpyro.factor("log_likelihood", likelihood.log_prob(x, theta))

    return model


def sample_model(model: Callable, *, key, num_warmup: int = 500, num_samples: int = 1000,
                 num_chains: int = 4, chain_method: str = "vectorized", progress_bar: bool = True,
                 target_accept_prob: float = 0.8, max_tree_depth: int = 10, dense_mass: bool = False,
                 init_strategy=None, model_kwargs: dict | None = None):
    """Run NUTS on any NumPyro ``model``; return ``(mcmc, idata)``.

    ``chain_method``: ``"vectorized"`` (default: all chains in one compiled loop, compiled once;
    fastest on CPU for small models), ``"sequential"`` (a progress bar per chain, but NumPyro
    compiles each chain anew: minutes per chain on a slow 2-core machine) or ``"parallel"``
    (one device per chain). ``dense_mass``: adapt a full mass matrix (strongly correlated
    parameters); ``init_strategy``: a NumPyro init strategy (default ``init_to_uniform``); give
    ``init_to_value`` float64 arrays, not Python floats: a weakly typed start makes NumPyro compile
    its NUTS step twice when the progress bar is on (experiments/fit_electrons.py, ``start_at``).
    """
    import arviz as az
    from numpyro.infer import MCMC, NUTS, init_to_uniform

    for name, value in (("num_warmup", num_warmup), ("num_samples", num_samples), ("num_chains", num_chains)):
        if not isinstance(value, (int, np.integer)) or value < (0 if name == "num_warmup" else 1):
            raise ValueError(f"{name} must be a {'non-negative' if name == 'num_warmup' else 'positive'} integer, got {value!r}")
    if chain_method not in ("sequential", "vectorized", "parallel"):
        raise ValueError(f"chain_method must be 'sequential', 'vectorized' or 'parallel', got {chain_method!r}")
    kernel = NUTS(model, target_accept_prob=target_accept_prob, max_tree_depth=max_tree_depth,
                  dense_mass=dense_mass, init_strategy=init_strategy or init_to_uniform)
    mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
                chain_method=chain_method, progress_bar=progress_bar)
    mcmc.run(as_key(key), **(model_kwargs or {}), extra_fields=("diverging", "num_steps"))
    return mcmc, az.from_numpyro(mcmc)


def run_nuts(likelihood: Likelihood, x_obs, *, key, num_warmup: int = 500, num_samples: int = 1000,
             num_chains: int = 4, chain_method: str = "vectorized", progress_bar: bool = True,
             target_accept_prob: float = 0.8):
    """NUTS posterior of ``likelihood.params`` given ``x_obs``, as ArviZ InferenceData.

    The posterior group has one variable per parameter (physical units, unit in its attrs);
    ``sample_stats`` holds divergences; use :func:`nuts_diagnostics` for R-hat/ESS/divergences.
    """
    model = likelihood_model(likelihood, x_obs)
    _, idata = sample_model(model, key=key, num_warmup=num_warmup, num_samples=num_samples,
                            num_chains=num_chains, chain_method=chain_method,
                            progress_bar=progress_bar, target_accept_prob=target_accept_prob)
    idata.posterior.attrs["method"] = "NUTS"
    return annotate_units(idata, likelihood.params)


def nuts_diagnostics(idata, var_names=None) -> dict:
    """Max R-hat, min bulk/tail ESS, the number of divergent transitions and the mean number of
    leapfrog steps per draw (NaN if not recorded): the cost of a draw in gradient evaluations."""
    import arviz as az

    summary = az.summary(idata, var_names=var_names, kind="diagnostics", round_to="none")
    stats = idata.sample_stats if hasattr(idata, "sample_stats") else {}
    diverging, steps = stats.get("diverging"), stats.get("n_steps")
    return {
        "r_hat_max": float(summary["r_hat"].max()),
        "ess_bulk_min": float(summary["ess_bulk"].min()),
        "ess_tail_min": float(summary["ess_tail"].min()),
        "divergences": int(np.asarray(diverging).sum()) if diverging is not None else 0,
        "steps_mean": float(np.asarray(steps).mean()) if steps is not None else float("nan"),
    }
