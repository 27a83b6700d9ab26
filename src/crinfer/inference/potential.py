"""A crinfer Likelihood (JAX) as an sbi potential, sampled by sbi's MCMC.

sbi's ``MCMCPosterior`` samples ``theta`` in the internal coordinates of
``params.sbi_prior()``; the potential there is

    log L(x_o | from_internal(theta)) + log prior_internal(theta),

which is the log posterior density over internal coordinates (no Jacobian: the prior
is defined in those coordinates). theta crosses to JAX and the value (and, for sbi's
gradient-based samplers, the gradient) comes back through DLPack.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import torch

from ..core.bridge import jax_to_torch, torch_to_jax
from ..core.errors import DomainError
from ..core.protocols import Likelihood
from .sbi_runner import sample_posterior


def likelihood_potential(likelihood: Likelihood, x_obs, *, device: str = "cpu"):
    """An sbi ``BasePotential`` evaluating ``log L(x_obs | theta) + log prior(theta)``.

    ``x_obs`` (shape ``likelihood.observable.shape``) is validated and kept in float64;
    theta arrives from sbi as a float32 ``(B, P)`` tensor of internal coordinates.
    """
    from sbi.inference.potentials.base_potential import BasePotential

    params, observable = likelihood.params, likelihood.observable
    x64 = observable.validate(x_obs)
    prior = params.sbi_prior(device=device)

    def loglik(x, u):
        return likelihood.log_prob(x, params.from_internal(u))

    def total(x, u):
        ll = loglik(x, u)
        return jnp.sum(ll), ll

    value = jax.jit(loglik)
    value_and_grad = jax.jit(jax.value_and_grad(total, argnums=1, has_aux=True))

    class _LikelihoodPotential(BasePotential):
        def __init__(self):
            super().__init__(prior, torch.as_tensor(x64[None], dtype=torch.float32), device)

        def set_x(self, x_o, x_is_iid=True):
            # sbi hands back the float32 copy of x_o; keep the float64 original if it matches.
            nonlocal x64
            if x_o is not None:
                arr = observable.validate(_as_numpy(x_o).reshape(observable.shape))
                if not np.array_equal(arr.astype(np.float32), x64.astype(np.float32)):
                    x64 = arr
            super().set_x(x_o, x_is_iid)

        def __call__(self, theta, track_gradients: bool = True):
            theta = theta.reshape(-1, len(params)) if theta.ndim == 1 else theta
            log_prior = self.prior.log_prob(theta)
            inside = torch.isfinite(log_prior)
            # Outside the prior the likelihood may be undefined: evaluate it at a safe point.
            safe = torch.where(inside[:, None], theta, _prior_centre(params, theta))
            ll = _JaxLogLik.apply(safe, jnp.asarray(x64), value, value_and_grad, track_gradients)
            _check_finite(ll, safe, inside, params)
            return torch.where(inside, ll + log_prior, torch.full_like(ll, -torch.inf))

    return _LikelihoodPotential()


def likelihood_posterior(likelihood: Likelihood, x_obs, *, method: str = "slice_np_vectorized",
                         num_chains: int = 20, warmup_steps: int = 200, thin: int = 5,
                         init_strategy: str = "resample", device: str = "cpu", **mcmc_kwargs):
    """An sbi ``MCMCPosterior`` (internal coordinates) of ``likelihood`` at ``x_obs``.

    ``method``: any sbi MCMC method (``slice_np_vectorized``, ``slice_np``, ``nuts_pyro``,
    ``hmc_pyro``, ...); gradients for the pyro samplers come from JAX. Sampling runs in
    sbi's unconstrained transform of the prior support.
    """
    from sbi.inference import MCMCPosterior
    from sbi.utils import mcmc_transform

    potential = likelihood_potential(likelihood, x_obs, device=device)
    posterior = MCMCPosterior(potential, proposal=potential.prior,
                              theta_transform=mcmc_transform(potential.prior, device=device),
                              method=method, num_chains=num_chains, warmup_steps=warmup_steps,
                              thin=thin, init_strategy=init_strategy, device=device, **mcmc_kwargs)
    return posterior.set_default_x(potential.x_o)


def sample_likelihood_posterior(likelihood: Likelihood, x_obs, *, key, num_samples: int = 2000,
                                method: str = "slice_np_vectorized", show_progress: bool = True,
                                **posterior_kwargs):
    """Sample the posterior of ``likelihood`` at ``x_obs`` with sbi's MCMC; InferenceData (physical)."""
    posterior = likelihood_posterior(likelihood, x_obs, method=method, **posterior_kwargs)
    return sample_posterior(posterior, likelihood.params, likelihood.observable.validate(x_obs),
                            key=key, num_samples=num_samples, show_progress=show_progress,
                            method=f"sbi-mcmc:{method}", attrs={"sampler": method})


class _JaxLogLik(torch.autograd.Function):
    """log L(x | theta) computed in JAX; backward uses the JAX gradient (per row)."""

    @staticmethod
    def forward(ctx, theta, x, value, value_and_grad, track_gradients):
        u = torch_to_jax(theta.detach().double())
        if track_gradients and ctx.needs_input_grad[0]:
            (_, ll), grad = value_and_grad(x, u)
            ctx.save_for_backward(jax_to_torch(grad).to(theta.dtype))
        else:
            ll = value(x, u)
        return jax_to_torch(ll).to(theta.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        (grad,) = ctx.saved_tensors
        return grad_out[:, None] * grad, None, None, None, None


def _prior_centre(params, theta: torch.Tensor) -> torch.Tensor:
    centre = []
    for p in params:
        lo, hi = p.internal_bounds
        centre.append(p.loc if p.prior == "normal" else 0.5 * (lo + hi))
    return torch.as_tensor(centre, dtype=theta.dtype, device=theta.device).expand_as(theta)


def _check_finite(ll: torch.Tensor, theta: torch.Tensor, inside: torch.Tensor, params) -> None:
    bad = inside & torch.isnan(ll)
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0])
        raise DomainError(
            f"the likelihood is NaN inside the prior at internal theta "
            f"{dict(zip(params.names, theta[i].tolist()))}; it must be finite or -inf there"
        )


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=float)
