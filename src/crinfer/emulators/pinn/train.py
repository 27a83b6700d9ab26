"""Training a factorised PINN on the residual alone (it never sees a solver's output).

Techniques (Wang, Sankaran & Perdikaris 2023, arXiv:2308.08468, and the papers it cites):
* collocation stratified in energy: the batch holds the same number of points in each of
  ``energy_bins`` slices of ln E, and the loss is a weighted sum of the per-slice mean squares;
* gradient-norm loss balancing: every ``balance_every`` steps the slice weights become
  w_k = sum_j |grad L_j| / |grad L_k| (moving average 0.9), so no decade of energy dominates;
* residual-based adaptive refinement (RAD, Wu et al. 2023): half the batch is redrawn every
  ``resample_every`` steps from a pool with probability ~ |R| / mean|R| + 1;
* a curriculum for losses: the loss term's weight ramps from 0 to 1 over ``curriculum_steps``
  (diffusion only -> diffusion + IC), usually after a warm start from a diffusion-only PINN;
* Adam with exponential learning-rate decay and gradient clipping (optax), then optionally
  ``lbfgs_steps`` of full-batch L-BFGS (``lbfgs_memory`` past steps) with a zoom line search on
  a fixed set of ``lbfgs_points`` (half uniform, half RAD), as in Raissi et al. (2019);
* checkpoints every ``checkpoint_every`` steps, resumed from when present.
"""
from __future__ import annotations

import functools
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from crinfer.core.errors import ConfigurationError

from .networks import FactorisedPINN, architecture, build
from .problem import PINNProblem
from .residual import EDGE, edge_hard_factor, residual, trial_gain

# how each phase scales the residual (point_scales): adam_weighting, lbfgs_weighting
WEIGHTINGS = ("amplitude", "relative")
# the floating-point type of L-BFGS's objective, gradient and curvature pairs (the artifact stays float32)
LBFGS_PRECISIONS = ("float32", "float64")
# where the energy slices' edges sit in x (slice_edges): equal widths, or Chebyshev-Lobatto points
ENERGY_SPACINGS = ("uniform", "chebyshev")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; every field is documented in docs/pinn.md."""

    steps: int = 5000
    batch: int = 2048
    lr: float = 2e-3
    decay_rate: float = 0.9
    decay_steps: int = 500
    clip_norm: float = 1.0
    energy_bins: int = 8
    energy_spacing: str = "uniform"
    balance_every: int = 250
    resample_every: int = 250
    pool_factor: int = 8
    curriculum_steps: int = 0
    checkpoint_every: int = 1000
    lbfgs_steps: int = 0
    lbfgs_points: int = 4096
    lbfgs_memory: int = 10
    lbfgs_weighting: str = "amplitude"
    lbfgs_precision: str = "float32"
    adam_weighting: str = "amplitude"
    rho_max: float = 1.0
    seed: int = 0

    def __post_init__(self):
        for name in ("batch", "decay_steps", "energy_bins", "balance_every", "resample_every",
                     "pool_factor", "checkpoint_every", "lbfgs_memory"):
            if int(getattr(self, name)) < 1:
                raise ConfigurationError(f"TrainConfig.{name} = {getattr(self, name)!r} must be >= 1")
        if int(self.steps) < 0 or int(self.steps) == 0 and int(self.lbfgs_steps) < 1:
            raise ConfigurationError(f"TrainConfig.steps = {self.steps!r} must be >= 1, or 0 (no Adam phase) "
                                     f"with lbfgs_steps >= 1 (got {self.lbfgs_steps!r})")
        if self.batch % (2 * self.energy_bins):
            raise ConfigurationError(f"TrainConfig.batch = {self.batch} must be a multiple of "
                                     f"2 * energy_bins = {2 * self.energy_bins}")
        for name in ("adam_weighting", "lbfgs_weighting"):
            if getattr(self, name) not in WEIGHTINGS:
                raise ConfigurationError(f"TrainConfig.{name} = {getattr(self, name)!r}; allowed: "
                                         f"{', '.join(WEIGHTINGS)}")
        if self.energy_spacing not in ENERGY_SPACINGS:
            raise ConfigurationError(f"TrainConfig.energy_spacing = {self.energy_spacing!r}; allowed: "
                                     f"{', '.join(ENERGY_SPACINGS)}")
        if self.lbfgs_precision not in LBFGS_PRECISIONS:
            raise ConfigurationError(f"TrainConfig.lbfgs_precision = {self.lbfgs_precision!r}; allowed: "
                                     f"{', '.join(LBFGS_PRECISIONS)}")
        if not EDGE < self.rho_max <= 1:
            raise ConfigurationError(f"TrainConfig.rho_max = {self.rho_max!r} must be in ({EDGE}, 1]: the "
                                     f"collocation covers the validated domain, r <= {EDGE} R_h")
        if not self.lr > 0 or not 0 < self.decay_rate <= 1:
            raise ConfigurationError(f"lr = {self.lr} must be > 0 and decay_rate = {self.decay_rate} in (0, 1]")


def initial_log_scale(problem: PINNProblem) -> float:
    """ln of the slab estimate u ~ h z_h / R_h^2 at the disc, the start of the network's output."""
    z_h = math.sqrt(math.prod(problem.ranges["z_h"])) if "z_h" in problem.ranges else \
        {**{"z_h": 4.0}, **problem.fixed}["z_h"]
    return math.log(problem.disc_h * z_h / problem.R_h**2)


def new_model(problem: PINNProblem, arch: dict, key) -> FactorisedPINN:
    """A new network of ``arch`` for ``problem``, its output starting at the slab estimate."""
    arch = architecture(**arch)
    if "correction" in arch:
        raise ConfigurationError("a correction stage trains on a trained base, which stays fixed: start it from "
                                 "one (a recipe's warm_start), not from a new network")
    arch.setdefault("log_scale0", initial_log_scale(problem))
    return build(len(problem.names), len(problem.species), arch, key)


# The top of the collocation's x (= ln E) range. In float32, 0.75 + 0.25 u rounds to 1 for the
# largest u, and x + 1 rounds to 2 for x within ~6e-8 of 1: such points sit exactly on the
# energy ceiling, where the hard constraint e(x) = 0 makes ln u = -inf and the residual NaN
# (seen once in 16,450 steps of batch 8,192). 1e-5 below 1 is 1e-4 in ln E below the ceiling.
X_TOP = 1.0 - 1e-5


def slice_edges(n_bins: int, spacing: str = "uniform"):
    """The ``n_bins + 1`` edges in x of the energy slices, from -1 to 1: equal widths, or with
    "chebyshev" the Chebyshev-Lobatto points -cos(pi k / n_bins), whose slices narrow towards both
    ends of the energy range (an equal number of points per slice then puts more of them where
    the residual concentrates: below ~0.4 GeV, and towards the ceiling with losses, for (c);
    docs/pinn.md, "Edge-dense collocation")."""
    if spacing not in ENERGY_SPACINGS:
        raise ConfigurationError(f"energy spacing {spacing!r}; allowed: {', '.join(ENERGY_SPACINGS)}")
    k = jnp.arange(n_bins + 1, dtype=jnp.float32)
    return -jnp.cos(jnp.pi * k / n_bins) if spacing == "chebyshev" else -1.0 + 2.0 * k / n_bins


def sample_points(key, problem: PINNProblem, n_per_bin: int, n_bins: int, rho_max: float = 1.0,
                  spacing: str = "uniform"):
    """(n_bins, n_per_bin, 3 + P) collocation points: rho uniform up to ``rho_max``, half of zeta
    uniform and half drawn as U^3 (denser at the disc), x stratified in ``n_bins`` slices
    (:func:`slice_edges` of ``spacing``; x at most X_TOP), a uniform in [-1, 1]."""
    k_r, k_z, k_m, k_x, k_a = jax.random.split(key, 5)
    shape = (n_bins, n_per_bin)
    rho = jax.random.uniform(k_r, shape, jnp.float32, minval=1e-3, maxval=rho_max)
    zu = jax.random.uniform(k_z, shape, jnp.float32)
    zeta = jnp.where(jax.random.bernoulli(k_m, 0.5, shape), zu, zu**3)
    edges = slice_edges(n_bins, spacing)
    x = edges[:-1, None] + (edges[1:] - edges[:-1])[:, None] * jax.random.uniform(k_x, shape, jnp.float32)
    x = jnp.minimum(x, jnp.float32(X_TOP))
    a = jax.random.uniform(k_a, shape + (len(problem.names),), jnp.float32, minval=-1.0, maxval=1.0)
    return jnp.concatenate([jnp.stack([rho, zeta, x], -1), a], -1)


def point_scales(model, pts, problem: PINNProblem, loss_weight=1.0, weighting="amplitude"):
    """1 / psi's local amplitude at every point (not differentiated), by which the loss divides
    the residual (``weighting``, one of WEIGHTINGS):

    * "amplitude": exp(c0 - log N), divided by :func:`trial_gain` for a trial that carries the
      losses: the network's amplitude, which weighs the outer Galaxy, where psi is ~1e-3 of its
      peak, like the inner Galaxy, but keeps the hard constraints' zeros (ADF, e) in the
      numerator, so that the relative residual R/u counts (1 - rho^2) sigma(zeta) times less
      towards the boundaries (~0.1 at r = 0.95 R_h, ~0.05 at z = 0.95 z_h);
    * "relative": exp(c0) / u, with the hard factors at most as close to the boundary as the
      validated domain (:func:`edge_hard_factor`), so that R/u counts alike everywhere inside it
      and stays finite on the boundary."""
    n = jax.vmap(jax.vmap(lambda y: model(y[0], y[1], y[2], y[3:])))(pts)
    scales = jnp.exp(model.log_scale0 - n)
    if weighting == "relative":
        scales = scales / jax.vmap(jax.vmap(lambda y: edge_hard_factor(problem, y, loss_weight)))(pts)
    elif problem.trial_carries_losses:
        scales = scales / jax.vmap(jax.vmap(lambda y: trial_gain(problem, y, loss_weight)))(pts)
    return jax.lax.stop_gradient(scales)


def scaled_residuals(model, problem: PINNProblem, pts, loss_weight, scales=None, weighting="amplitude"):
    """Residuals at ``pts`` (..., 3 + P), shape (..., S) over the species, times ``scales``:
    frozen ones (L-BFGS needs a fixed objective) or, by default, :func:`point_scales` of the
    model itself."""
    if scales is None:
        scales = point_scales(model, pts, problem, loss_weight, weighting)
    return jax.vmap(jax.vmap(lambda y: residual(model, problem, y, loss_weight)))(pts) * scales


def _bin_losses(model, problem, pts, loss_weight, scales=None, weighting="amplitude"):
    """Mean squared scaled residual per energy slice (over points and species)."""
    return jnp.mean(scaled_residuals(model, problem, pts, loss_weight, scales, weighting) ** 2, axis=(1, 2))


def _rad_select(key, problem, model, pool, n_keep, loss_weight, weighting="amplitude"):
    """RAD: per energy slice, n_keep points of the pool drawn with p ~ |R|/mean|R| + 1
    (|R| summed over the species, scaled as the loss scales it)."""
    r = jnp.sum(jnp.abs(scaled_residuals(model, problem, pool, loss_weight, weighting=weighting)), axis=-1)
    p = r / jnp.mean(r, axis=1, keepdims=True) + 1.0
    keys = jax.random.split(key, pool.shape[0])
    pick = jax.vmap(lambda k, pk: jax.random.choice(k, pool.shape[1], (n_keep,), p=pk / pk.sum()))(keys, p)
    return jnp.take_along_axis(pool, pick[..., None], axis=1)


@functools.lru_cache(maxsize=8)
def _compiled(problem_json: str, batch: int, energy_bins: int, pool_factor: int, clip_norm: float,
              weighting: str, rho_max: float, spacing: str):
    """The jitted step, gradient-norm and RAD functions, shared by trainers of one problem,
    batch layout, weighting and collocation radius (so that a resumed or repeated run, or one with another schedule,
    does not compile again)."""
    problem = PINNProblem.from_dict(json.loads(problem_json))
    optimiser = _optimiser(clip_norm)
    n_half, n_bins = batch // (2 * energy_bins), energy_bins

    @eqx.filter_jit
    def train_step(model, opt_state, key, rad_points, weights, loss_weight, lr):
        fresh = sample_points(key, problem, n_half, n_bins, rho_max, spacing)
        pts = jnp.concatenate([fresh, rad_points], axis=1)

        def total(m):
            bins = _bin_losses(m, problem, pts, loss_weight, weighting=weighting)
            return jnp.sum(weights * bins), bins

        (loss, bins), grads = eqx.filter_value_and_grad(total, has_aux=True)(model)
        updates, opt_state = optimiser.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        updates = jax.tree_util.tree_map(lambda u: -lr * u, updates)
        return eqx.apply_updates(model, updates), opt_state, loss, bins

    @eqx.filter_jit
    def grad_norms(model, key, loss_weight):
        pts = sample_points(key, problem, 2 * n_half, n_bins, rho_max, spacing)

        def one(k):
            g = eqx.filter_grad(lambda m: _bin_losses(m, problem, pts, loss_weight, weighting=weighting)[k])(model)
            return optax.global_norm(g)

        return jnp.stack([one(k) for k in range(n_bins)])

    @eqx.filter_jit
    def resample(model, key, loss_weight):
        k_pool, k_pick = jax.random.split(key)
        pool = sample_points(k_pool, problem, pool_factor * n_half, n_bins, rho_max, spacing)
        return _rad_select(k_pick, problem, model, pool, n_half, loss_weight, weighting)

    return train_step, grad_norms, resample


def _optimiser(clip_norm: float):
    """Gradient clipping and Adam's scaling; the step multiplies the result by -lr, a traced
    argument, so that schedules of any length share one compiled step."""
    return optax.chain(optax.clip_by_global_norm(clip_norm), optax.scale_by_adam())


def learning_rate(config: TrainConfig, step: int) -> float:
    """lr * decay_rate ** (step / decay_steps): exponential decay (optax's, unstaircased)."""
    return config.lr * config.decay_rate ** (step / config.decay_steps)


def _as_float(tree, dtype):
    """``tree`` with its floating-point arrays cast to ``dtype`` (integer arrays and the rest as they are)."""
    return jax.tree.map(lambda a: a.astype(dtype) if eqx.is_inexact_array(a) else a, tree)


def _log_line(bar, text: str):
    """A batch job's log has no live bar (stdout is not a terminal): print the bar's line there instead."""
    if not bar.disable and not bar.console.is_terminal:
        bar.console.print(text, soft_wrap=True)   # one line per record, however long


class PINNTrainer:
    """Holds the model, the optimiser state and the collocation set of one training run."""

    def __init__(self, problem: PINNProblem, config: TrainConfig, arch: dict | None = None,
                 model: FactorisedPINN | None = None):
        self.problem, self.config = problem, config
        key = jax.random.key(config.seed)
        self.key, k_model = jax.random.split(key)
        self.model = model if model is not None else new_model(problem, arch or {}, k_model)
        self.opt_state = _optimiser(config.clip_norm).init(eqx.filter(self.model, eqx.is_array))
        self.weights = jnp.ones(config.energy_bins, jnp.float32)
        self.step = 0
        self.history: list[dict] = []
        self.n_half = config.batch // (2 * config.energy_bins)
        self.key, k = jax.random.split(self.key)
        self.rad_points = sample_points(k, problem, self.n_half, config.energy_bins, config.rho_max,
                                        config.energy_spacing)
        # no sort_keys: the order of ``ranges`` is the order of the network's parameter inputs
        self._train_step, self._grad_norms, self._resample = _compiled(
            json.dumps(problem.to_dict()), config.batch, config.energy_bins, config.pool_factor, config.clip_norm,
            config.adam_weighting, config.rho_max, config.energy_spacing)

    def loss_weight(self, step: int) -> float:
        c = self.config.curriculum_steps
        return 1.0 if c <= 0 else min(1.0, step / c)

    def run(self, steps: int | None = None, checkpoint_dir=None, progress: bool = True) -> list[dict]:
        """Train to ``steps`` (default config.steps) total steps; returns the loss history."""
        from rich.progress import Progress

        cfg, target = self.config, steps or self.config.steps
        start = time.perf_counter() - self._seconds_so_far()
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task("PINN training", total=target, completed=self.step)
            while self.step < target:
                lw = self.loss_weight(self.step)
                lw_traced = jnp.float32(lw)   # a Python float would be static under filter_jit: one compile per step
                if self.step % cfg.balance_every == 0:
                    self._balance(lw_traced)
                if self.step % cfg.resample_every == 0 and self.step > 0:
                    self.key, k = jax.random.split(self.key)
                    self.rad_points = self._resample(self.model, k, lw_traced)
                self.key, k = jax.random.split(self.key)
                self.model, self.opt_state, loss, bins = self._train_step(
                    self.model, self.opt_state, k, self.rad_points, self.weights, lw_traced,
                    jnp.float32(learning_rate(cfg, self.step)))
                self.step += 1
                if self.step % 50 == 0 or self.step == target or self.step == 1:
                    loss = float(loss)
                    if not math.isfinite(loss):
                        raise FloatingPointError(f"PINN loss became {loss} at step {self.step}; "
                                                 "lower lr or check the problem's ranges")
                    self.history.append(dict(step=self.step, loss=loss, loss_weight=lw,
                                             bins=[float(b) for b in bins],
                                             seconds=time.perf_counter() - start))
                    bar.update(task, completed=self.step, description=f"PINN loss {loss:.3e}")
                    _log_line(bar, f"step {self.step}/{target}  loss {loss:.4e}  {self.history[-1]['seconds']:.0f} s")
                if checkpoint_dir is not None and (self.step % cfg.checkpoint_every == 0 or self.step == target):
                    self.save_checkpoint(checkpoint_dir)
        return self.history

    def refine_lbfgs(self, steps: int | None = None, n_points: int | None = None, progress: bool = True,
                     seconds: float | None = None) -> int:
        """Full-batch L-BFGS (optax, zoom line search) on a fixed collocation set; appends to history
        and returns the iterations run. Run at step 0 (a warm start refined without an Adam phase), it
        first balances the slices. ``seconds``: stop after the iteration that passes this wall time
        (L-BFGS keeps no checkpoint: what it reached is the result). It computes in
        ``lbfgs_precision`` and hands back a float32 model."""
        from rich.progress import Progress

        steps = steps or self.config.lbfgs_steps
        pts, scales = self.lbfgs_collocation(n_points)
        params, static, data, loss = self.lbfgs_objective_in(jnp.dtype(self.config.lbfgs_precision), pts, scales)
        opt = optax.lbfgs(memory_size=self.config.lbfgs_memory)
        value_and_grad = optax.value_and_grad_from_state(loss)

        @jax.jit
        def step(p, state, data):
            value, grad = value_and_grad(p, data, state=state)
            updates, state = opt.update(grad, state, p, value=value, grad=grad, value_fn=lambda q: loss(q, data))
            return (optax.apply_updates(p, updates), state, value,
                    optax.tree_utils.tree_get(state, "num_linesearch_steps"))

        state = opt.init(params)
        start = time.perf_counter() - self._seconds_so_far()
        deadline = None if seconds is None else time.perf_counter() + seconds
        evaluations, recorded = 0, 0    # line-search evaluations since the last recorded iteration
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task("PINN L-BFGS", total=steps)
            for i in range(1, steps + 1):
                params, state, value, n_search = step(params, state, data)
                evaluations += int(n_search)
                out_of_time = deadline is not None and time.perf_counter() > deadline
                if i % 50 == 0 or i == steps or out_of_time:
                    value = float(value)
                    if not math.isfinite(value):
                        raise FloatingPointError(f"L-BFGS loss became {value} at iteration {i}")
                    self.history.append(dict(step=self.step + i, loss=value, loss_weight=1.0, bins=[],
                                             seconds=time.perf_counter() - start, phase="lbfgs"))
                    bar.update(task, completed=i, description=f"L-BFGS loss {value:.3e}")
                    _log_line(bar, f"L-BFGS {i}/{steps}  loss {value:.4e}  {self.history[-1]['seconds']:.0f} s  "
                                   f"line search {evaluations / (i - recorded):.1f} evaluations per iteration")
                    evaluations, recorded = 0, i
                if out_of_time:
                    break
        self.model = _as_float(eqx.combine(params, static), jnp.float32)
        return i

    def lbfgs_collocation(self, n_points: int | None = None):
        """L-BFGS's fixed collocation set of ``n_points`` (default ``lbfgs_points``; half uniform,
        half RAD against the current model) and its frozen point scales. At step 0 (straight after a
        warm start, no Adam phase has balanced the energy slices) it balances them first."""
        cfg, problem, model = self.config, self.problem, self.model
        per_bin = max((n_points or cfg.lbfgs_points) // (2 * cfg.energy_bins), 1)
        if self.step == 0:
            self._balance(jnp.float32(1.0))
        self.key, k_uniform, k_pool, k_pick = jax.random.split(self.key, 4)
        layout = (cfg.energy_bins, cfg.rho_max, cfg.energy_spacing)
        pool = sample_points(k_pool, problem, cfg.pool_factor * per_bin, *layout)
        pts = jnp.concatenate([sample_points(k_uniform, problem, per_bin, *layout),
                               _rad_select(k_pick, problem, model, pool, per_bin, 1.0, cfg.lbfgs_weighting)],
                              axis=1)
        return pts, point_scales(model, pts, problem, weighting=cfg.lbfgs_weighting)

    def lbfgs_objective(self, model, pts, scales, weights=None):
        """L-BFGS's objective: the slice-weighted (default: the trainer's ``weights``) sum of the
        mean squared scaled residuals of ``model`` at ``pts`` (from :meth:`lbfgs_collocation`), the
        IC term at full weight."""
        weights = self.weights if weights is None else weights
        return jnp.sum(weights * _bin_losses(model, self.problem, pts, 1.0, scales))

    def lbfgs_objective_in(self, dtype, pts, scales):
        """(params, static, data, objective): the model split into its arrays, cast to ``dtype``,
        and the rest; data = (points, scales, slice weights) cast to ``dtype``; and
        objective(params, data) = :meth:`lbfgs_objective`, computed in ``dtype`` (lbfgs_precision).
        The data are arguments, not constants of the objective, so that runs on other points (of
        the same shapes) compile to the same program and share XLA's compilation cache."""
        params, static = eqx.partition(_as_float(self.model, dtype), eqx.is_array)
        data = _as_float((pts, scales, self.weights), dtype)
        return params, static, data, lambda p, d: self.lbfgs_objective(eqx.combine(p, static), *d)

    def _balance(self, loss_weight):
        """Gradient-norm balancing of the energy slices: w_k = sum_j |grad L_j| / |grad L_k|,
        normalised to mean 1; taken as is at step 0, as a 0.9 moving average after."""
        self.key, k = jax.random.split(self.key)
        norms = self._grad_norms(self.model, k, loss_weight)
        new = jnp.sum(norms) / jnp.maximum(norms, 1e-30)
        new = new / jnp.mean(new)
        self.weights = new if self.step == 0 else 0.9 * self.weights + 0.1 * new

    # -- checkpoints ------------------------------------------------------------------------
    def _seconds_so_far(self) -> float:
        """Training seconds recorded so far (the history's clock runs on across resumed runs)."""
        return self.history[-1]["seconds"] if self.history else 0.0

    def save_checkpoint(self, directory) -> Path:
        """Model, optimiser state, weights, collocation set, step, key and loss history (resumable).

        The three files are written to ``<directory>.partial`` and swapped in whole, so a run
        killed at any moment leaves one consistent checkpoint (``load_checkpoint`` falls back to
        ``<directory>.previous`` if it was killed mid-swap). ``directory`` holds nothing else.
        """
        directory = Path(directory)
        foreign = sorted(p.name for p in directory.iterdir() if p.name not in _CHECKPOINT_FILES) \
            if directory.is_dir() else []
        if foreign:
            raise FileExistsError(f"checkpoint folder {directory} holds other files ({', '.join(foreign[:3])}); "
                                  "give the checkpoints a folder of their own")
        staging, previous = _sibling(directory, "partial"), _sibling(directory, "previous")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        state = (self.model, self.opt_state, self.weights, self.rad_points, jax.random.key_data(self.key))
        eqx.tree_serialise_leaves(staging / "checkpoint.eqx", state)
        (staging / "checkpoint.history.json").write_text(json.dumps(self.history))
        (staging / "checkpoint.step").write_text(f"{self.step}\n")
        shutil.rmtree(previous, ignore_errors=True)
        if directory.exists():
            directory.replace(previous)
        staging.replace(directory)
        shutil.rmtree(previous, ignore_errors=True)
        return directory / "checkpoint.eqx"

    def load_checkpoint(self, directory) -> bool:
        """Resume from ``directory`` if it holds a checkpoint; returns whether it did."""
        directory = Path(directory)
        if not (directory / "checkpoint.eqx").exists():
            directory = _sibling(directory, "previous")     # a run killed between the two renames
        path = directory / "checkpoint.eqx"
        if not path.exists():
            return False
        like = (self.model, self.opt_state, self.weights, self.rad_points, jax.random.key_data(self.key))
        model, opt_state, weights, rad_points, key_data = eqx.tree_deserialise_leaves(path, like)
        self.model, self.opt_state, self.weights, self.rad_points = model, opt_state, weights, rad_points
        self.key = jax.random.wrap_key_data(key_data)
        self.step = int((directory / "checkpoint.step").read_text())
        history = directory / "checkpoint.history.json"    # absent in checkpoints before 2026-11-25
        self.history = json.loads(history.read_text()) if history.exists() else []
        return True


_CHECKPOINT_FILES = ("checkpoint.eqx", "checkpoint.history.json", "checkpoint.step")


def _sibling(directory: Path, suffix: str) -> Path:
    """``<directory>.<suffix>`` beside ``directory`` (the checkpoint swap's staging names)."""
    return directory.with_name(f"{directory.name}.{suffix}")


def mean_loss(history: list[dict], last: int = 10) -> float:
    """Mean of the last ``last`` recorded losses (the model card's residual metric)."""
    return float(np.mean([h["loss"] for h in history[-last:]])) if history else float("nan")
