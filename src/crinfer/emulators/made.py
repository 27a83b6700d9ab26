"""MADE / SECRET: a Gaussian-mixture MADE density emulator of a simulator's output, unconditional
(one parameter point, "MADE") or conditional on the physical parameters ("SECRET", seed 003).

The network is nflows' ``MixtureOfGaussiansMADE`` trained in torch
(:mod:`crinfer.emulators.made_train`); everything after training runs in JAX
(:mod:`crinfer.emulators.made_jax`): :meth:`MADEEmulator.log_prob` is a
:class:`~crinfer.core.protocols.Likelihood` (traceable, differentiable in theta) and
:meth:`MADEEmulator.simulate` a :class:`~crinfer.core.protocols.Simulator`.

Coordinates: x is standardised per output bin, y = (x - x_mean)/x_std; theta is mapped to
internal coordinates (log10 on log-scale parameters) and standardised, c. A conditional model can
then standardise y per theta as well (``location_degree``, ``scale_degree`` > 0): the network sees
z = (y - m(c))/s(c), with m and log s polynomials in c fitted to the training set, so that it
models the shape of the spread around a smooth trend instead of the trend itself (the trend
across theta is ~15x the spread at one theta for the electron spectra). z is put in the spec's
feature ``order``. log p(x) = log p_net(z) - sum log x_std - sum log s(c).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from crinfer.core.errors import ConfigurationError, ShapeError
from crinfer.core.parameters import ParameterSpace
from crinfer.core.protocols import Observable
from crinfer.core.rng import as_key

from . import made_jax
from .artifact import DomainGuard, ModelCard, load_artifact, save_artifact

SCHEMA = "crinfer.made/1"


# the per-theta trend's highest total degree: 462 terms in SECRET's 5 parameters at degree 6
MAX_TREND_DEGREE = 6


@dataclass(frozen=True)
class MADESpec:
    """Architecture of a Gaussian-mixture MADE (nflows, residual blocks).

    features: output bins D; context_features: parameters P (0: unconditional); hidden_features:
    width of every hidden layer; num_blocks: residual blocks after the first masked layer;
    num_components: Gaussians per conditional; epsilon: floor of the standard deviations (in
    the network's standardised units); order: the autoregressive order of the D bins (a
    permutation; empty means natural order); location_degree, scale_degree: total degrees of the
    polynomials in standardised theta of each bin's location and log scale (0: constant, the
    per-bin standardisation alone; conditional models only).
    """

    features: int
    context_features: int = 0
    hidden_features: int = 200
    num_blocks: int = 1
    num_components: int = 10
    epsilon: float = 1e-2
    activation: str = "relu"
    order: tuple = field(default=())
    location_degree: int = 0
    scale_degree: int = 0

    def __post_init__(self):
        object.__setattr__(self, "order", tuple(int(i) for i in self.order) or tuple(range(self.features)))
        checks = [("features", self.features, self.features >= 1, ">= 1"),
                  ("context_features", self.context_features, self.context_features >= 0, ">= 0"),
                  ("hidden_features", self.hidden_features, self.hidden_features >= self.features + 1,
                   f">= features + 1 = {self.features + 1}"),
                  ("num_blocks", self.num_blocks, self.num_blocks >= 0, ">= 0"),
                  ("num_components", self.num_components, self.num_components >= 1, ">= 1"),
                  ("epsilon", self.epsilon, self.epsilon > 0, "> 0"),
                  ("activation", self.activation, self.activation in made_jax.ACTIVATIONS,
                   f"one of {sorted(made_jax.ACTIVATIONS)}"),
                  ("order", self.order, sorted(self.order) == list(range(self.features)),
                   f"a permutation of 0..{self.features - 1}")]
        for name in ("location_degree", "scale_degree"):
            value = getattr(self, name)
            allowed = (0,) if self.context_features == 0 else range(0, MAX_TREND_DEGREE + 1)
            checks.append((name, value, value in allowed,
                           "0 (unconditional)" if self.context_features == 0 else f"in 0..{MAX_TREND_DEGREE}"))
        for name, value, ok, allowed in checks:
            if not ok:
                raise ConfigurationError(f"MADESpec {name}={value!r}; must be {allowed}")

    @classmethod
    def with_random_order(cls, key, features, **kwargs):
        """A spec whose autoregressive order is a random permutation drawn from ``key``."""
        order = np.asarray(jax.random.permutation(as_key(key), features))
        return cls(features=features, order=tuple(int(i) for i in order), **kwargs)


class MADEEmulator:
    """A trained MADE: log densities and samples of x (D bins), optionally given theta (P).

    Args:
        spec: the architecture; state: torch state-dict arrays by name; normalisation:
            ``x_mean``, ``x_std`` (D,) and, if conditional, ``theta_mean``, ``theta_std`` (P,) in
            internal coordinates, and with polynomial degrees > 0 ``location_coef`` (terms, D),
            ``log_scale_coef`` (terms, D) on standardised theta; card: the model card; params:
            the ParameterSpace of theta (None if unconditional); observable: what x is; guard: domain-guard mode ("warn",
            "refuse", "off"); dtype: JAX dtype of the forward pass.
    """

    def __init__(self, spec: MADESpec, state: dict, normalisation: dict, card: ModelCard,
                 params: ParameterSpace | None = None, observable: Observable | None = None,
                 guard="warn", dtype=jnp.float64):
        if (params is None) != (spec.context_features == 0) or (params is not None and len(params) != spec.context_features):
            raise ConfigurationError(
                f"spec.context_features={spec.context_features} but params has "
                f"{0 if params is None else len(params)} parameters")
        self.spec, self.card, self.params = spec, card, params
        self.state = {k: np.asarray(v) for k, v in state.items()}
        self.normalisation = {k: np.asarray(v, dtype=np.float64) for k, v in normalisation.items()}
        self.observable = observable or Observable("x", (spec.features,))
        self.guard = DomainGuard.from_card(card, guard) if params is not None else DomainGuard((), np.zeros(0), np.zeros(0), "off")
        self.dtype = dtype
        self.weights = made_jax.masked_weights(self.state, spec.num_blocks, dtype)
        order = np.asarray(spec.order)
        self._order, self._inverse_order = jnp.asarray(order), jnp.asarray(np.argsort(order))
        self._x_mean = jnp.asarray(self.normalisation["x_mean"], dtype)
        self._x_std = jnp.asarray(self.normalisation["x_std"], dtype)
        self._log_jacobian = float(np.log(self.normalisation["x_std"]).sum())
        coef = {}
        for name, degree in (("location_coef", spec.location_degree), ("log_scale_coef", spec.scale_degree)):
            terms = made_jax.polynomial_terms(spec.context_features, degree)
            coef[name] = np.asarray(self.normalisation.get(name, np.zeros((terms, spec.features))))
            if coef[name].shape != (terms, spec.features):
                raise ShapeError(f"normalisation {name!r} has shape {coef[name].shape}; degree {degree} in "
                                 f"{spec.context_features} parameters needs ({terms}, {spec.features})")
        self._location_coef = jnp.asarray(coef["location_coef"], dtype)
        self._log_scale_coef = jnp.asarray(coef["log_scale_coef"], dtype)
        net = dict(num_blocks=spec.num_blocks, num_components=spec.num_components,
                   epsilon=spec.epsilon, activation=spec.activation)
        self._log_prob_z = jax.jit(partial(made_jax.log_prob_per_feature, **net))
        self._sample_z = jax.jit(partial(made_jax.sample, features=spec.features, **net), static_argnums=(3,))
        self._from_noise_z = jax.jit(partial(made_jax.from_noise, features=spec.features, **net))
        self._to_noise_z = jax.jit(partial(made_jax.to_noise, **net))
        self._conditional_sd_z = jax.jit(partial(made_jax.conditional_sd, **net))

    # -- coordinates ----------------------------------------------------------
    def residual_map(self, ctx):
        """(m, log s) (..., D) of standardised theta ctx (..., P): the location and log scale, in
        per-bin standardised units y and bin order, that give the network's z = (y - m)/s
        ((0, 0) when the spec's degrees are 0 or the model is unconditional)."""
        if ctx is None:
            zeros = jnp.zeros(self.spec.features, self.dtype)
            return zeros, zeros
        loc = made_jax.polynomial_features(ctx, self.spec.location_degree) @ self._location_coef
        return loc, made_jax.polynomial_features(ctx, self.spec.scale_degree) @ self._log_scale_coef

    def to_network_x(self, x, ctx=None):
        """Physical x (..., D) -> network coordinates (..., D + 1), dummy column first; ctx:
        standardised theta (the per-theta residual map), None if unconditional."""
        return self._to_z(x, self.residual_map(ctx))

    def from_network_z(self, z, ctx=None):
        """Network coordinates z (..., D) in the autoregressive order (no dummy column) -> physical x."""
        return self._from_z(z, self.residual_map(ctx))

    def _to_z(self, x, trend):
        loc, log_s = trend
        y = (jnp.asarray(x, self.dtype) - self._x_mean) / self._x_std
        z = ((y - loc) * jnp.exp(-log_s))[..., self._order]
        return jnp.concatenate([jnp.zeros(z.shape[:-1] + (1,), self.dtype), z], axis=-1)

    def _from_z(self, z, trend):
        loc, log_s = trend
        return (z[..., self._inverse_order] * jnp.exp(log_s) + loc) * self._x_std + self._x_mean

    def to_network_theta(self, theta):
        """Physical theta (..., P) -> standardised internal coordinates (None if unconditional)."""
        if self.params is None:
            return None
        u = self.params.to_internal(jnp.asarray(theta, self.dtype))
        return ((u - self.normalisation["theta_mean"]) / self.normalisation["theta_std"]).astype(self.dtype)

    # -- Likelihood -----------------------------------------------------------
    def log_prob(self, x, theta=None):
        """log p(x | theta) [per unit of x^D]; x (..., D), theta (..., P) broadcastable. JAX."""
        z, ctx, log_s = self._network_inputs_x(x, theta)
        return self._log_prob_z(self.weights, z, ctx)[..., 1:].sum(-1) - self._log_jacobian - log_s.sum(-1)

    # -- Simulator ------------------------------------------------------------
    def sample(self, key, n: int, theta=None):
        """n draws (n, D) of x at one parameter point theta (P,) (or unconditionally)."""
        self._check_theta(theta, single=True)
        ctx = self.to_network_theta(theta)
        z = self._sample_z(self.weights, as_key(key), ctx, int(n))
        return self.from_network_z(z, ctx)

    def simulate(self, key, theta):
        """One draw per row of theta (B, P) -> (B, D); same key, same numbers."""
        if self.params is None:
            raise ConfigurationError("an unconditional MADE has no theta; use sample(key, n)")
        theta = self.params.validate(theta) if not isinstance(theta, jax.core.Tracer) else theta
        self._check_theta(theta)
        ctx = self.to_network_theta(theta)
        z = self._sample_z(self.weights, as_key(key), ctx, int(ctx.shape[0]))
        return self.from_network_z(z, ctx)

    # -- noise coordinates (non-centred parametrisation) ----------------------
    def from_noise(self, eps, theta=None, head=None):
        """x (..., D) whose autoregressive conditional CDFs are Phi(eps): eps ~ N(0, I) (..., D)
        gives x ~ this MADE. Differentiable in eps and theta (JAX): the latent of a NumPyro model
        can be eps instead of x, which turns the MADE's thin, curved high-density ridges (its
        conditionals at the epsilon floor) into a standard normal.

        head (..., k): the first k network coordinates (:meth:`network_coordinates`: the
        autoregressive order, per-bin standardised, the per-theta trend removed); then eps is
        (..., D - k) and transforms only the remaining bins."""
        k = 0 if head is None else int(np.shape(head)[-1])
        if np.shape(eps)[-1] != self.spec.features - k:
            raise ShapeError(f"eps has {np.shape(eps)[-1]} columns; with a head of {k} bins it needs "
                             f"D - {k} = {self.spec.features - k}")
        eps, ctx = self._network_inputs(jnp.asarray(eps, self.dtype), theta)
        if head is not None:
            head = jnp.broadcast_to(jnp.asarray(head, self.dtype), eps.shape[:-1] + (k,))
        return self.from_network_z(self._from_noise_z(self.weights, eps, ctx, head=head), ctx)

    def to_noise(self, x, theta=None):
        """The inverse of :meth:`from_noise`: eps (..., D) of x (..., D)."""
        z, ctx, _ = self._network_inputs_x(x, theta)
        return self._to_noise_z(self.weights, z, ctx)

    def network_coordinates(self, x, theta=None):
        """The network's coordinates z (..., D) of x (..., D): SECRET's autoregressive order, each
        bin standardised ((x - x_mean)/x_std) and, with a per-theta trend, z = (y - m(theta))/s(theta).
        The inverse is ``from_network_z(z, to_network_theta(theta))``."""
        return self._network_inputs_x(x, theta)[0][..., 1:]

    def network_log_prob(self, z, theta=None):
        """log p of the first k network coordinates z (..., k), 1 <= k <= D [per unit of z^k]:
        the exact marginal of those bins (a MADE factorises along its order); k = D is the full
        density, log_prob(x) + sum log(x_std s(theta)). A NumPyro site in these coordinates needs
        no Jacobian, and the per-theta trend no longer shears it against theta. JAX."""
        k, features = int(np.shape(z)[-1]), self.spec.features
        if not 1 <= k <= features:
            raise ShapeError(f"z has {k} columns; must be in 1..{features}")
        z, ctx = self._network_inputs(jnp.asarray(z, self.dtype), theta)
        padded = jnp.concatenate([jnp.zeros(z.shape[:-1] + (1,), self.dtype), z,
                                  jnp.zeros(z.shape[:-1] + (features - k,), self.dtype)], axis=-1)
        return self._log_prob_z(self.weights, padded, ctx)[..., 1:k + 1].sum(-1)

    def conditional_sd(self, x, theta=None):
        """Standard deviation (..., D) of each bin's conditional given the earlier bins, in the
        autoregressive order and the network's standardised units: bins at ``spec.epsilon`` are
        fixed by the earlier ones up to the mixture's floor (the thin ridges that make NUTS diverge)."""
        z, ctx, _ = self._network_inputs_x(x, theta)
        return self._conditional_sd_z(self.weights, z, ctx)

    def _network_inputs_x(self, x, theta):
        """Check theta; (network z of x, standardised theta) broadcast to one batch shape, and the
        residual map's log scale (..., D) (computed once per call)."""
        self._check_theta(theta)
        ctx = self.to_network_theta(theta)
        trend = self.residual_map(ctx)
        return (*self._broadcast(self._to_z(x, trend), ctx), trend[1])

    def _network_inputs(self, values, theta):
        """Check theta; (values, standardised theta) broadcast to one batch shape (theta None if
        unconditional)."""
        self._check_theta(theta)
        return self._broadcast(values, self.to_network_theta(theta))

    @staticmethod
    def _broadcast(values, ctx):
        if ctx is None:
            return values, None
        batch = jnp.broadcast_shapes(values.shape[:-1], ctx.shape[:-1])
        return jnp.broadcast_to(values, batch + values.shape[-1:]), jnp.broadcast_to(ctx, batch + ctx.shape[-1:])

    def _check_theta(self, theta, single=False):
        if self.params is None:
            if theta is not None:
                raise ConfigurationError("this MADE is unconditional; theta must be None")
            return
        if theta is None:
            raise ConfigurationError(f"this MADE is conditional on {list(self.params.names)}; theta is required")
        shape = getattr(theta, "shape", np.shape(theta))
        if (single and tuple(shape) != (len(self.params),)) or (not single and (len(shape) < 1 or shape[-1] != len(self.params))):
            raise ShapeError(f"theta must have shape {'(P,)' if single else '(..., P)'} with P = "
                             f"{len(self.params)} columns {list(self.params.names)}, got {tuple(shape)}")
        self.guard.check(theta)

    # -- artifact -------------------------------------------------------------
    def save(self, directory, overwrite=False):
        """Write the artifact (spec, safetensors weights, normalisation, card) to ``directory``."""
        spec = {"schema": SCHEMA, **asdict(self.spec), "order": list(self.spec.order),
                "params": self.params.to_dict() if self.params is not None else None,
                "observable": {"name": self.observable.name, "unit": self.observable.unit,
                               "grid": None if self.observable.grid is None else np.asarray(self.observable.grid).tolist(),
                               "grid_unit": self.observable.grid_unit}}
        return save_artifact(directory, spec, self.state, self.normalisation, self.card, overwrite)

    @classmethod
    def load(cls, directory, guard="warn", dtype=jnp.float64):
        spec, state, normalisation, card = load_artifact(directory, SCHEMA)
        params = ParameterSpace.from_dict(spec.pop("params")) if spec.get("params") else None
        spec.pop("params", None)
        obs = spec.pop("observable")
        spec.pop("schema")
        made_spec = MADESpec(**spec)
        observable = Observable(obs["name"], (made_spec.features,), obs["unit"],
                                None if obs["grid"] is None else np.asarray(obs["grid"]), obs["grid_unit"])
        return cls(made_spec, state, normalisation, card, params, observable, guard, dtype)
