"""Posterior samples as ArviZ InferenceData: one result type for NUTS and sbi alike."""
from __future__ import annotations

import numpy as np

from ..core.parameters import ParameterSpace


def samples_to_inference_data(samples, params: ParameterSpace, *, method: str,
                              sample_stats: dict | None = None, attrs: dict | None = None):
    """Wrap ``(chains, draws, P)`` or ``(draws, P)`` physical samples as InferenceData.

    Each parameter becomes a posterior variable named after it, with its unit in the
    variable's attributes; ``method`` and ``attrs`` go into the posterior group's attributes.
    """
    import arviz as az

    arr = np.asarray(samples.detach().cpu() if hasattr(samples, "detach") else samples, dtype=float)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[-1] != len(params):
        raise ValueError(
            f"samples must have shape (chains, draws, {len(params)}) or (draws, {len(params)}), got {arr.shape}"
        )
    posterior = {name: arr[..., j] for j, name in enumerate(params.names)}
    idata = az.from_dict(posterior=posterior, sample_stats=sample_stats)
    idata.posterior.attrs.update({"method": method, **(attrs or {})})
    return annotate_units(idata, params)


def annotate_units(idata, params: ParameterSpace):
    """Store each parameter's unit, scale and bounds in its posterior variable's attributes."""
    for p in params:
        if p.name in idata.posterior:
            idata.posterior[p.name].attrs.update(unit=p.unit, scale=p.scale, low=p.low, high=p.high)
    return idata


def posterior_matrix(idata, names=None) -> np.ndarray:
    """``(chains*draws, P)`` array of posterior samples in the order of ``names``."""
    post = idata.posterior
    names = list(names) if names is not None else list(post.data_vars)
    return np.stack([post[n].values.reshape(-1) for n in names], axis=-1)
