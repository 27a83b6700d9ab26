"""JAX forward pass of a Gaussian-mixture MADE trained with nflows (``MixtureOfGaussiansMADE``
with residual blocks), so that the torch-trained density runs inside NumPyro and on GPUs.

Works in the network's own coordinates: ``z`` (..., F) with F = features + 1, whose column 0 is
the constant 0 that gives the first real feature a context-dependent conditional (the trick of
sbi's MADE wrapper); ``ctx`` (..., C) the standardised context, or None. Weights are the torch
state-dict arrays by name; masks are applied once by :func:`masked_weights`.
"""
from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

ACTIVATIONS = {"relu": jax.nn.relu, "tanh": jnp.tanh, "elu": jax.nn.elu}


def masked_weights(state: dict, num_blocks: int, dtype=jnp.float64) -> dict:
    """Name -> JAX array with every masked weight multiplied by its mask (masks dropped)."""
    out = {}
    for name, value in state.items():
        if name.endswith(".mask") or name.endswith(".degrees"):
            continue
        value = np.asarray(value, dtype=np.float64)
        mask_name = name[: -len("weight")] + "mask"
        if name.endswith(".weight") and mask_name in state:
            value = value * np.asarray(state[mask_name], dtype=np.float64)
        out[name] = jnp.asarray(value, dtype=dtype)
    expected = {"initial_layer.weight", "final_layer.weight"} | {
        f"blocks.{i}.linear_layers.{j}.weight" for i in range(num_blocks) for j in (0, 1)}
    missing = sorted(expected - set(out))
    if missing:
        raise KeyError(f"MADE weights lack {missing}")
    return out


def polynomial_terms(variables: int, degree: int) -> int:
    """Number of monomials of total degree <= ``degree`` in ``variables`` variables."""
    return math.comb(variables + degree, degree)


def polynomial_features(ctx, degree: int):
    """Monomials of ctx (..., C) of total degree 0..``degree``, constant first: (..., terms)."""
    ctx = jnp.asarray(ctx)
    cols = [jnp.ones(ctx.shape[:-1], ctx.dtype)]
    for d in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(ctx.shape[-1]), d):
            cols.append(jnp.prod(ctx[..., list(combo)], axis=-1))
    return jnp.stack(cols, axis=-1)


def _linear(w, name, x):
    return x @ w[name + ".weight"].T + w[name + ".bias"]


def forward(w, z, ctx, num_blocks, activation="relu"):
    """Raw network output (..., F * K * 3), the layout of nflows' MADE."""
    act = ACTIVATIONS[activation]
    h = _linear(w, "initial_layer", z)
    if ctx is not None:
        h = h + _linear(w, "context_layer", ctx)
    for i in range(num_blocks):
        block = f"blocks.{i}"
        t = _linear(w, block + ".linear_layers.0", act(h))
        if ctx is not None:
            t = t + _linear(w, block + ".context_layer", ctx)
        h = h + _linear(w, block + ".linear_layers.1", act(t))
    return _linear(w, "final_layer", h)


def mixture_parameters(w, z, ctx, num_blocks, num_components, epsilon, activation="relu"):
    """(log weights, means, standard deviations), each (..., F, K)."""
    out = forward(w, z, ctx, num_blocks, activation)
    out = out.reshape(z.shape + (num_components, 3))
    log_w = jax.nn.log_softmax(out[..., 0], axis=-1)
    return log_w, out[..., 1], jax.nn.softplus(out[..., 2]) + epsilon


def log_prob_per_feature(w, z, ctx, num_blocks, num_components, epsilon, activation="relu"):
    """log p(z_f | z_<f, ctx) for every column f = 0..F-1, shape (..., F). Column 0 is the
    dummy's (a constant in z and ctx); the density of the real features is the sum of the rest."""
    log_w, mean, std = mixture_parameters(w, z, ctx, num_blocks, num_components, epsilon, activation)
    log_normal = -0.5 * (jnp.log(2.0 * jnp.pi) + 2.0 * jnp.log(std) + ((z[..., None] - mean) / std) ** 2)
    return jax.scipy.special.logsumexp(log_w + log_normal, axis=-1)


def sample(w, key, ctx, n, features, num_blocks, num_components, epsilon, activation="relu"):
    """n draws (n, features) in network coordinates (dummy column removed). ``ctx`` is (C,)
    (broadcast to all draws), (n, C), or None. One forward pass per feature."""
    dtype = w["final_layer.weight"].dtype
    if ctx is not None and ctx.ndim == 1:
        ctx = jnp.broadcast_to(ctx, (n, ctx.shape[0]))
    keys = jax.random.split(key, features)

    def step(f, z):
        log_w, mean, std = mixture_parameters(w, z, ctx, num_blocks, num_components, epsilon, activation)
        k_comp, k_norm = jax.random.split(keys[f - 1])
        comp = jax.random.categorical(k_comp, log_w[:, f, :], axis=-1)
        m = jnp.take_along_axis(mean[:, f, :], comp[:, None], axis=-1)[:, 0]
        s = jnp.take_along_axis(std[:, f, :], comp[:, None], axis=-1)[:, 0]
        return z.at[:, f].set(m + s * jax.random.normal(k_norm, (n,), dtype=dtype))

    z = jax.lax.fori_loop(1, features + 1, step, jnp.zeros((n, features + 1), dtype=dtype))
    return z[:, 1:]


def _mixture_cdf(y, log_w, mean, std):
    """CDF of the 1-D Gaussian mixture at y (...), components on the last axis."""
    return jnp.sum(jnp.exp(log_w) * jax.scipy.stats.norm.cdf((y[..., None] - mean) / std), axis=-1)


def _mixture_pdf(y, log_w, mean, std):
    return jnp.sum(jnp.exp(log_w) * jax.scipy.stats.norm.pdf((y[..., None] - mean) / std) / std, axis=-1)


def _mixture_quantile(u, log_w, mean, std, rounds=8, points=16):
    """y with CDF(y) = u: ``rounds`` of ``points``-section search in a +-12 sigma bracket (to
    ~1e-8 sigma), one Newton step to the float64 rounding level, and one more Newton step that
    carries the gradients (the implicit-function derivative dy = (du - dF) / pdf at the root)."""
    lw, m, s = (jax.lax.stop_gradient(a) for a in (log_w, mean, std))
    u0 = jax.lax.stop_gradient(u)
    lo = jnp.min(m - 12.0 * s, axis=-1)
    hi = jnp.max(m + 12.0 * s, axis=-1)
    fractions = jnp.linspace(0.0, 1.0, points + 1, dtype=u.dtype)

    def refine(_, bracket):
        lo, hi = bracket
        grid = lo[..., None] + (hi - lo)[..., None] * fractions
        below = _mixture_cdf(grid, lw[..., None, :], m[..., None, :], s[..., None, :]) < u0[..., None]
        k = jnp.clip(jnp.sum(below, axis=-1), 1, points)[..., None]
        return jnp.take_along_axis(grid, k - 1, axis=-1)[..., 0], jnp.take_along_axis(grid, k, axis=-1)[..., 0]

    lo, hi = jax.lax.fori_loop(0, rounds, refine, (lo, hi))
    y = 0.5 * (lo + hi)
    y = jax.lax.stop_gradient(y - (_mixture_cdf(y, lw, m, s) - u0) / _mixture_pdf(y, lw, m, s))
    return y - (_mixture_cdf(y, log_w, mean, std) - u) / _mixture_pdf(y, log_w, mean, std)


def from_noise(w, eps, ctx, features, num_blocks, num_components, epsilon, activation="relu", head=None):
    """The inverse Rosenblatt transform: network coordinates z (..., features) whose conditional
    CDFs are Phi(eps), feature by feature in autoregressive order. eps ~ N(0, I) gives z ~ the
    MADE's density; differentiable in eps, ctx, head and the weights. ``head`` (..., k) fixes the
    first k features (then eps is (..., features - k) and only the rest are transformed)."""
    k = 0 if head is None else head.shape[-1]
    u = jax.scipy.stats.norm.cdf(eps)
    z = jnp.zeros(eps.shape[:-1] + (features + 1,), eps.dtype)
    if k:
        z = z.at[..., 1:k + 1].set(head)

    def step(f, z):
        log_w, mean, std = mixture_parameters(w, z, ctx, num_blocks, num_components, epsilon, activation)
        y = _mixture_quantile(u[..., f - 1 - k], log_w[..., f, :], mean[..., f, :], std[..., f, :])
        return z.at[..., f].set(y)

    return jax.lax.fori_loop(k + 1, features + 1, step, z)[..., 1:]


def conditional_sd(w, z, ctx, num_blocks, num_components, epsilon, activation="relu"):
    """Standard deviation of each feature's mixture conditional given the earlier ones, at network
    coordinates z (..., features + 1) with the dummy column first -> (..., features)."""
    log_w, mean, std = mixture_parameters(w, z, ctx, num_blocks, num_components, epsilon, activation)
    weight = jnp.exp(log_w[..., 1:, :])
    mix_mean = jnp.sum(weight * mean[..., 1:, :], axis=-1)
    second = jnp.sum(weight * (std[..., 1:, :] ** 2 + mean[..., 1:, :] ** 2), axis=-1)
    return jnp.sqrt(jnp.maximum(second - mix_mean ** 2, 0.0))


def to_noise(w, z, ctx, num_blocks, num_components, epsilon, activation="relu"):
    """The Rosenblatt transform: eps = Phi^-1(CDF_f(z_f | z_<f, ctx)) for network coordinates z
    (..., features + 1) with the dummy column first -> (..., features)."""
    log_w, mean, std = mixture_parameters(w, z, ctx, num_blocks, num_components, epsilon, activation)
    u = _mixture_cdf(z[..., 1:], log_w[..., 1:, :], mean[..., 1:, :], std[..., 1:, :])
    return jax.scipy.special.ndtri(u)
