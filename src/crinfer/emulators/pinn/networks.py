"""Equinox networks of the factorised PINN (Wang, Sankaran & Perdikaris 2023, arXiv:2308.08468).

* :class:`FactorisedDense` -- random weight factorisation W = diag(exp(s)) V.
* :class:`ModifiedMLP` -- the "modified MLP": two encoders U, V gate every hidden layer,
  h <- z * U + (1 - z) * V, on Fourier features of the inputs.
* :class:`FactorisedPINN` -- log N = morphology(rho, zeta, x, a) + spectrum(x, a): the seed's
  factorisation of the solution into a slowly varying morphology and a global spectrum, with
  one output per species (seed 000: protons as a second output node).
* :class:`CorrectedPINN` -- a trained FactorisedPINN, fixed, plus a small correction stage.

Spatial features are even cosines cos(pi k rho), cos(pi k zeta): the network is exactly even in
rho and zeta, so d_r psi = 0 on the axis and the solution is symmetric about the disc by
construction. Energy x and parameters a (both in [-1, 1]) get random Fourier features.
"""
from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp

F32 = jnp.float32   # PINNs train in single precision (crinfer enables x64 globally)
OUTPUT_GAIN = 0.01  # scale of the output layer's initial weights


class FactorisedDense(eqx.Module):
    """y = x @ (V * exp(s)) + b; s ~ N(mu, sigma) per output (random weight factorisation)."""

    s: jax.Array
    v: jax.Array
    b: jax.Array

    def __init__(self, n_in: int, n_out: int, key, mu: float = 0.5, sigma: float = 0.1, gain: float = 1.0):
        k_w, k_s = jax.random.split(key)
        w = gain * jax.random.normal(k_w, (n_in, n_out), F32) * math.sqrt(2.0 / (n_in + n_out))   # Glorot
        self.s = mu + sigma * jax.random.normal(k_s, (n_out,), F32)
        self.v = w / jnp.exp(self.s)
        self.b = jnp.zeros((n_out,), F32)

    def __call__(self, x):
        return x @ (self.v * jnp.exp(self.s)) + self.b


class ModifiedMLP(eqx.Module):
    """Modified MLP on [cos(pi k_r rho), cos(pi k_z zeta), cos/sin(B [x, a]), x, a] -> (n_out,).

    With n_radial = n_vertical = 0 the network ignores (rho, zeta) (the spectrum head).
    """

    k_r: jax.Array
    k_z: jax.Array
    B: jax.Array
    enc_u: FactorisedDense
    enc_v: FactorisedDense
    hidden: list
    out: FactorisedDense

    def __init__(self, n_params: int, width: int, depth: int, n_radial: int, n_vertical: int,
                 n_fourier: int, fourier_sigma: float, key, n_out: int = 1):
        keys = jax.random.split(key, depth + 4)
        self.k_r = jnp.arange(n_radial, dtype=jnp.float32)
        self.k_z = jnp.arange(n_vertical, dtype=jnp.float32)
        self.B = fourier_sigma * jax.random.normal(keys[0], (1 + n_params, n_fourier), F32)
        n_in = n_radial + n_vertical + 2 * n_fourier + 1 + n_params
        self.enc_u = FactorisedDense(n_in, width, keys[1])
        self.enc_v = FactorisedDense(n_in, width, keys[2])
        self.hidden = [FactorisedDense(n_in if i == 0 else width, width, keys[3 + i]) for i in range(depth)]
        # a small output layer starts log N near its constant c0: a random initial network has
        # large curvature, and the fastest way to cut that residual is to shrink u towards the
        # trivial solution u = 0, a basin training then rarely leaves (docs/pinn.md, "Initialisation")
        self.out = FactorisedDense(width, n_out, keys[-1], gain=OUTPUT_GAIN)

    def features(self, rho, zeta, x, a):
        xa = jnp.concatenate([jnp.atleast_1d(x), a])
        proj = xa @ jax.lax.stop_gradient(self.B)
        k_r, k_z = jax.lax.stop_gradient(self.k_r), jax.lax.stop_gradient(self.k_z)
        # amplitude 1/(1 + k): every feature's curvature (pi k)^2/(1 + k) stays within a few
        # times its frequency, so high modes do not swamp the Laplacian at initialisation
        return jnp.concatenate([jnp.cos(jnp.pi * k_r * rho) / (1.0 + k_r),
                                jnp.cos(jnp.pi * k_z * zeta) / (1.0 + k_z),
                                jnp.cos(proj), jnp.sin(proj), xa])

    def __call__(self, rho, zeta, x, a):
        h = self.features(rho, zeta, x, a)
        U, V = jnp.tanh(self.enc_u(h)), jnp.tanh(self.enc_v(h))
        for layer in self.hidden:
            z = jnp.tanh(layer(h))
            h = z * U + (1.0 - z) * V
        return self.out(h)


class FactorisedPINN(eqx.Module):
    """log N_s(rho, zeta, x, a) = morphology_s(rho, zeta, x, a) + spectrum_s(x, a) + log_scale0,
    an array over the ``n_outputs`` species s."""

    morphology: ModifiedMLP
    spectrum: ModifiedMLP
    log_scale0: float = eqx.field(static=True)

    def __init__(self, n_params: int, key, *, width, depth, n_radial, n_vertical, n_fourier,
                 fourier_sigma, spec_width, spec_depth, log_scale0=0.0, n_outputs=1):
        """Hyper-parameters as returned by :func:`architecture`."""
        k_m, k_s = jax.random.split(key)
        self.morphology = ModifiedMLP(n_params, width, depth, n_radial, n_vertical, n_fourier,
                                      fourier_sigma, k_m, n_outputs)
        self.spectrum = ModifiedMLP(n_params, spec_width, spec_depth, 0, 0, n_fourier, fourier_sigma, k_s,
                                    n_outputs)
        self.log_scale0 = float(log_scale0)

    def __call__(self, rho, zeta, x, a):
        return self.morphology(rho, zeta, x, a) + self.spectrum(rho, zeta, x, a) + self.log_scale0


# The correction stage's default hyper-parameters (``architecture(correction={...})``): ModifiedMLP's
# own, with more spatial modes than the base's (the base's remaining error varies faster than the
# solution), and ``scale``, the size of ln N's correction the stage's O(1) output stands for (the
# base's error: ~0.1-2% for (c)). Energy features of fourier_sigma 2 instead of 1 did nearly as well
# on (c) (max 1.55% against 1.46%; docs/pinn.md, "A correction stage").
CORRECTION = dict(width=64, depth=3, n_radial=24, n_vertical=12, n_fourier=16, fourier_sigma=1.0, scale=3e-3)


class CorrectedPINN(eqx.Module):
    """A PINN's second stage (multi-stage training, Wang & Lai 2024, J. Comput. Phys. 504, 112865,
    arXiv:2307.08934): log N = base(rho, zeta, x, a) + scale * correction(rho, zeta, x, a), the
    base a trained :class:`FactorisedPINN` held fixed (its weights under stop_gradient: training
    moves the correction alone; psi stays differentiable in the inputs) and the correction a fresh
    :class:`ModifiedMLP` whose O(1) output is the base's remaining error in ln N over ``scale``."""

    base: FactorisedPINN
    correction: ModifiedMLP
    scale: float = eqx.field(static=True)

    def __init__(self, base: FactorisedPINN, key, *, scale, **mlp):
        """``mlp``: ModifiedMLP's width, depth, n_radial, n_vertical, n_fourier, fourier_sigma."""
        self.base, self.scale = base, float(scale)
        n_params, n_out = base.morphology.B.shape[0] - 1, base.morphology.out.b.shape[0]
        self.correction = ModifiedMLP(n_params, key=key, n_out=n_out, **mlp)

    @property
    def log_scale0(self) -> float:
        return self.base.log_scale0

    def __call__(self, rho, zeta, x, a):
        base = jax.lax.stop_gradient(self.base)
        return base(rho, zeta, x, a) + self.scale * self.correction(rho, zeta, x, a)


def build(n_params: int, n_outputs: int, arch: dict, key, base: FactorisedPINN | None = None):
    """The network of ``arch`` (:func:`architecture`'s keys): a :class:`FactorisedPINN`, or with a
    ``correction`` entry a :class:`CorrectedPINN` on ``base`` (a fresh base from ``key`` if None)."""
    plain = {k: v for k, v in arch.items() if k != "correction"}
    k_base, k_corr = jax.random.split(key)
    if base is None:
        base = FactorisedPINN(n_params, k_base, n_outputs=n_outputs, **plain)
    if "correction" not in arch:
        return base
    return CorrectedPINN(base, k_corr, **{**CORRECTION, **arch["correction"]})


def widen_outputs(model: FactorisedPINN, n_outputs: int) -> FactorisedPINN:
    """A one-output PINN as an ``n_outputs`` one whose every output equals the original: the
    warm start of a multi-species PINN from a one-species one. (Diffusion only, u is the same for
    every species, so a diffusion-only PINN is the exact starting point of the curriculum.)"""
    if model.morphology.out.b.shape != (1,):
        raise ValueError(f"can only widen a one-output PINN; this one has {model.morphology.out.b.shape[0]}")
    heads = lambda m: (m.morphology.out, m.spectrum.out)
    leaves = lambda m: tuple(x for layer in heads(m) for x in (layer.s, layer.v, layer.b))
    return eqx.tree_at(leaves, model, tuple(jnp.tile(x, (1, n_outputs) if x.ndim == 2 else n_outputs)
                                            for x in leaves(model)))


def widen_inputs(model: FactorisedPINN, n_params: int) -> FactorisedPINN:
    """A fixed-parameter PINN as one conditional on ``n_params`` parameters that gives the fixed
    solution at every parameter point: the warm start of a conditional PINN. The parameters enter
    through zero weights (trainable) and zero Fourier-projection rows (fixed), so they act on the
    network only linearly through its first layers, which suits the smooth dependence of psi on
    the propagation parameters; the energy's Fourier features are untouched."""
    if model.morphology.B.shape[0] != 1:
        raise ValueError(f"can only widen a fixed-parameter PINN; this one has "
                         f"{model.morphology.B.shape[0] - 1} parameters")

    def widen(mlp: ModifiedMLP) -> ModifiedMLP:
        pad = lambda w: jnp.concatenate([w, jnp.zeros((n_params,) + w.shape[1:], w.dtype)])
        fed_by_features = lambda m: (m.enc_u.v, m.enc_v.v, m.hidden[0].v)   # a is the last feature
        return eqx.tree_at(lambda m: (m.B, *fed_by_features(m)), mlp,
                           (pad(mlp.B), *(pad(v) for v in fed_by_features(mlp))))

    return eqx.tree_at(lambda m: (m.morphology, m.spectrum), model, (widen(model.morphology), widen(model.spectrum)))


def widen_hidden(model: FactorisedPINN, width: int, key) -> FactorisedPINN:
    """The PINN with its morphology trunk widened to ``width`` hidden units, giving exactly the
    same log N: a warm start with more capacity (function-preserving growth, Chen, Goodfellow &
    Shlens 2016, "Net2Net", arXiv:1511.05641). The new units get fresh encoder and hidden columns
    (drawn with ``key`` as at initialisation) and zero weights into the old units and the output,
    so they change nothing until training moves those weights; the spectrum head is unchanged."""
    mlp = model.morphology
    old = mlp.out.v.shape[0]
    if width <= old:
        raise ValueError(f"can only widen the morphology trunk; it has {old} units, asked for {width}")
    depth, n_in, n_out = len(mlp.hidden), mlp.enc_u.v.shape[0], mlp.out.v.shape[1]
    # the new columns come from a fresh network of the wide shape (its Fourier projection is not used)
    fresh = ModifiedMLP(mlp.B.shape[0] - 1, width, depth, len(mlp.k_r), len(mlp.k_z), mlp.B.shape[1], 1.0, key,
                        n_out)

    def grow(layer: FactorisedDense, new: FactorisedDense, rows_in: int) -> FactorisedDense:
        """``layer`` (rows_in -> old) inside ``new``'s shape: its block kept, zero rows below it
        in the old columns (later units do not feed the old ones), ``new``'s values elsewhere."""
        v = new.v.at[:, :old].set(0.0).at[:rows_in, :old].set(layer.v)
        return eqx.tree_at(lambda d: (d.s, d.v, d.b), new,
                           (new.s.at[:old].set(layer.s), v, new.b.at[:old].set(layer.b)))

    enc_u, enc_v = (grow(a, b, n_in) for a, b in ((mlp.enc_u, fresh.enc_u), (mlp.enc_v, fresh.enc_v)))
    hidden = [grow(a, b, n_in if i == 0 else old) for i, (a, b) in enumerate(zip(mlp.hidden, fresh.hidden))]
    out = eqx.tree_at(lambda d: (d.s, d.v, d.b), mlp.out,
                      (mlp.out.s, jnp.zeros((width, n_out), mlp.out.v.dtype).at[:old].set(mlp.out.v), mlp.out.b))
    wide = eqx.tree_at(lambda m: (m.enc_u, m.enc_v, m.hidden, m.out), mlp, (enc_u, enc_v, hidden, out))
    return eqx.tree_at(lambda m: m.morphology, model, wide)


def architecture(**overrides) -> dict:
    """The default hyper-parameters of :class:`FactorisedPINN`, updated by ``overrides``."""
    from crinfer.core.errors import ConfigurationError

    arch = dict(width=64, depth=4, n_radial=16, n_vertical=16, n_fourier=16, fourier_sigma=1.0,
                spec_width=32, spec_depth=2)
    unknown = set(overrides) - set(arch) - {"log_scale0", "correction"}
    if unknown:
        raise ConfigurationError(f"unknown PINN architecture keys {sorted(unknown)}; allowed: {sorted(arch)}, "
                                 "correction")
    if "correction" in overrides:
        correction = dict(overrides["correction"])
        if set(correction) - set(CORRECTION):
            raise ConfigurationError(f"unknown keys {sorted(set(correction) - set(CORRECTION))} of the PINN's "
                                     f"correction stage; allowed: {sorted(CORRECTION)}")
        overrides = {**overrides, "correction": {**CORRECTION, **correction}}
        if not overrides["correction"]["scale"] > 0:
            raise ConfigurationError(f"correction scale = {overrides['correction']['scale']!r} must be > 0")
    return {**arch, **overrides}
