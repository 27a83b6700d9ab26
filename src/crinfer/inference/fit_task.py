"""Fit one sbibm benchmark task by NUTS or sbi and write the posterior and a comparison report."""
from __future__ import annotations

from pathlib import Path

from ..core.errors import ConfigurationError

METHODS = ("NUTS", "NPE", "NLE", "NRE")


def fit_sbibm_task(task: str, *, method: str, observation: int, num_simulations: int,
                   num_samples: int, seed: int, out: Path) -> Path:
    """Posterior of sbibm ``task`` at observation ``observation``; returns ``out/posterior.nc``.

    NUTS runs on the task's exact likelihood (gaussian_linear only); NPE/NLE/NRE use
    ``num_simulations`` simulations. ``out/comparison.md`` and ``out/corner.png`` set it beside sbibm's reference samples.
    """
    from . import sbibm_tasks
    from .numpyro_runner import run_nuts
    from .compare import compare_report
    from .results import samples_to_inference_data
    from .sbi_runner import run_sbi

    method = method.upper()
    if method not in METHODS:
        raise ConfigurationError(f"method {method!r} is not one of {METHODS}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    x_obs = sbibm_tasks.observation(task, observation)
    if method == "NUTS":
        likelihood = sbibm_tasks.sbibm_exact_likelihood(task)
        idata = run_nuts(likelihood, x_obs, key=seed, num_samples=max(num_samples // 4, 1), num_chains=4)
        params = likelihood.params
    else:
        simulator = sbibm_tasks.sbibm_simulator(task)
        idata = run_sbi(simulator, x_obs, method=method, num_simulations=num_simulations, key=seed,
                        num_posterior_samples=num_samples).idata
        params = simulator.params
    path = out / "posterior.nc"
    idata.to_netcdf(path)
    reference = samples_to_inference_data(sbibm_tasks.reference_samples(task, observation), params,
                                          method="reference")
    compare_report({method: idata, "sbibm reference": reference}, out,
                   title=f"{task}, observation {observation}: {method} vs the sbibm reference")
    return path
