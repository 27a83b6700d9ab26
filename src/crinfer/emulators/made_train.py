"""Training of the MADE / SECRET emulator in torch (nflows' ``MixtureOfGaussiansMADE``).

Maximum likelihood with Adam, mini-batches, gradient clipping and early stopping on a held-out
validation split (the best validation state is kept; for a conditional model the split is by
parameter point, so that it measures how the model generalises to unseen theta). Inputs are
standardised per bin and theta per parameter (internal coordinates), then, if the spec asks,
per theta by polynomial trends fitted by least squares (:func:`fit_residual_map`). A constant
0 column is put before the features so that the first real feature's conditional depends on
theta (the MADE's first output otherwise sees only a bias; sbi's MADE wrapper does the same). The result is a
:class:`~crinfer.emulators.made.MADEEmulator` (JAX) with its model card.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from crinfer.core.errors import ConfigurationError, ObservationError, ShapeError
from crinfer.core.parameters import ParameterSpace
from crinfer.core.protocols import Observable
from crinfer.core.rng import as_key, numpy_rng, torch_seeded

from . import made_jax
from .artifact import ModelCard, dataset_hash
from .made import MADEEmulator, MADESpec

_TORCH_ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh, "elu": F.elu}


def build_torch_made(spec: MADESpec):
    """nflows MixtureOfGaussiansMADE over features + 1 columns (dummy first), residual blocks."""
    from nflows.nn.nde import MixtureOfGaussiansMADE

    return MixtureOfGaussiansMADE(
        features=spec.features + 1, hidden_features=spec.hidden_features,
        context_features=spec.context_features or None, num_blocks=spec.num_blocks,
        num_mixture_components=spec.num_components, use_residual_blocks=True, random_mask=False,
        activation=_TORCH_ACTIVATIONS[spec.activation], epsilon=spec.epsilon, custom_initialization=True)


def state_arrays(net) -> dict:
    """The network's state dict as float32/int64 NumPy arrays (what the artifact stores)."""
    return {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}


def train_made(x, theta=None, params: ParameterSpace | None = None, spec: MADESpec | None = None,
               key=0, *, observable: Observable | None = None, name="made", batch_size=512,
               learning_rate=1e-3, max_epochs=1000, patience=20, validation_fraction=0.1,
               validation_split="points", clip_norm=5.0, progress=True) -> MADEEmulator:
    """Fit a MADE to samples x (N, D), conditional on theta (N, P) in ``params`` if given.

    The default spec has a random feature order drawn from ``key`` and the seed's size (one
    hidden layer of 200 before a residual block, 10 components). Training stops when the
    validation loss has not improved for ``patience`` epochs; ``validation_split`` "points"
    holds out whole parameter points of a conditional model, "rows" single rows (how the first
    shipped SECRET was trained). Same key, same network.
    """
    key = as_key(key)
    x = _finite_2d(x, "x")
    n, d = x.shape
    if (theta is None) != (params is None):
        raise ConfigurationError("give both theta and params (conditional) or neither (unconditional)")
    if theta is not None:
        theta = params.validate(theta)
        if theta.shape[0] != n:
            raise ShapeError(f"theta has {theta.shape[0]} rows but x has {n}")
    if not 0.0 < validation_fraction < 1.0:
        raise ConfigurationError(f"validation_fraction={validation_fraction!r}; must be in (0, 1)")
    p = 0 if params is None else len(params)
    spec = spec or MADESpec.with_random_order(key, d, context_features=p)
    if (spec.features, spec.context_features) != (d, p):
        raise ConfigurationError(f"spec has (features, context_features) = ({spec.features}, "
                                 f"{spec.context_features}); the data have ({d}, {p})")

    rng = numpy_rng(key)
    val, train = _split(theta, n, validation_fraction, rng, validation_split)
    norm = {"x_mean": x[train].mean(0), "x_std": x[train].std(0) + 1e-12}
    y = (x - norm["x_mean"]) / norm["x_std"]
    ctx = None
    if params is not None:
        u = np.asarray(params.to_internal(theta))
        norm["theta_mean"], norm["theta_std"] = u[train].mean(0), u[train].std(0) + 1e-12
        c = (u - norm["theta_mean"]) / norm["theta_std"]
        if spec.location_degree or spec.scale_degree:
            norm["location_coef"], norm["log_scale_coef"] = fit_residual_map(
                y[train], c[train], spec.location_degree, spec.scale_degree)
            y = (y - _poly(c, spec.location_degree) @ norm["location_coef"]) / np.exp(
                _poly(c, spec.scale_degree) @ norm["log_scale_coef"])
        ctx = torch.as_tensor(c, dtype=torch.float32)
    z = torch.as_tensor(np.concatenate([np.zeros((n, 1)), y[:, list(spec.order)]], axis=1), dtype=torch.float32)

    torch_seeded(key)
    net = build_torch_made(spec)
    best_state, history = _fit(net, z, ctx, train, val, rng, batch_size, learning_rate, max_epochs,
                               patience, clip_norm, progress)
    net.load_state_dict(best_state)

    card = ModelCard(
        name=name, kind="made" if params is None else "secret", dataset_hash=dataset_hash(x, theta),
        n_train=len(train), n_validation=len(val),
        training_domain={} if params is None else {
            nm: [float(theta[:, j].min()), float(theta[:, j].max())] for j, nm in enumerate(params.names)},
        metrics={"epochs": len(history), "best_validation_loss": float(min(history)),
                 "validation_loss_history": [float(h) for h in history]})
    emulator = MADEEmulator(spec, state_arrays(net), norm, card, params, observable)
    val_lp = emulator.log_prob(x[val], None if theta is None else theta[val])
    card.metrics["validation_log_prob_per_sample"] = float(np.mean(np.asarray(val_lp)))
    return emulator


def _split(theta, n, validation_fraction, rng, by="points"):
    """(validation rows, training rows). by="points": whole parameter points go to validation
    (rows at the same theta stay together); "rows", or without theta: single rows."""
    if by not in ("points", "rows"):
        raise ConfigurationError(f"validation_split={by!r}; allowed: 'points', 'rows'")
    if theta is None or by == "rows":
        perm = rng.permutation(n)
        n_val = max(1, int(round(validation_fraction * n)))
        return perm[:n_val], perm[n_val:]
    group = np.unique(theta, axis=0, return_inverse=True)[1].ravel()
    n_groups = group.max() + 1
    n_val = max(1, int(round(validation_fraction * n_groups)))
    if n_val >= n_groups:
        raise ConfigurationError(f"validation_fraction={validation_fraction} of {n_groups} parameter points "
                                 "leaves none for training")
    is_val = np.isin(group, rng.permutation(n_groups)[:n_val])
    return np.flatnonzero(is_val), np.flatnonzero(~is_val)


def _poly(c, degree):
    return np.asarray(made_jax.polynomial_features(np.asarray(c, np.float64), degree))


def fit_residual_map(y, c, location_degree, scale_degree, clip=3.0, rounds=3):
    """Polynomial trends of standardised y (N, D) in standardised theta c (N, P): (location
    coefficients (terms, D), log-scale coefficients (terms, D)). The location is a least-squares
    fit repeated ``rounds`` times with the residuals clipped at ``clip`` robust standard
    deviations (1.4826 x median |residual| per bin; the highest-energy electron bins have tails
    30 dex long); the log scale fits log |residual| + 0.635 (the mean of log |N(0, 1)| is
    -0.635), so that the residual divided by the scale has about unit spread at every theta."""
    n_points = len(np.unique(c, axis=0))
    for name, degree in (("location_degree", location_degree), ("scale_degree", scale_degree)):
        terms = made_jax.polynomial_terms(c.shape[1], degree)
        if n_points < 2 * terms:
            raise ConfigurationError(f"{name}={degree} has {terms} terms in {c.shape[1]} parameters; the training "
                                     f"set has {n_points} distinct parameter points, at least {2 * terms} needed")
    design = _poly(c, location_degree)
    location = np.linalg.lstsq(design, y, rcond=None)[0]
    for _ in range(rounds):
        trend = design @ location
        width = clip * 1.4826 * np.median(np.abs(y - trend), axis=0)
        location = np.linalg.lstsq(design, trend + np.clip(y - trend, -width, width), rcond=None)[0]
    log_abs = np.log(np.abs(y - design @ location) + 1e-6) + 0.635
    log_scale = np.linalg.lstsq(_poly(c, scale_degree), log_abs, rcond=None)[0]
    return location, log_scale


def _fit(net, z, ctx, train, val, rng, batch_size, learning_rate, max_epochs, patience, clip_norm, progress):
    """Adam with early stopping; returns (best state dict, validation losses per epoch)."""
    from rich.progress import Progress

    opt = torch.optim.Adam(net.parameters(), lr=learning_rate)
    z_val = z[val]
    ctx_val = None if ctx is None else ctx[val]
    best, best_state, since_best, history = math.inf, None, 0, []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("training MADE", total=max_epochs)
        for epoch in range(max_epochs):
            net.train()
            order = torch.as_tensor(rng.permutation(train))
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                loss = -net.log_prob(z[idx], None if ctx is None else ctx[idx]).mean()
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), clip_norm)
                opt.step()
            net.eval()
            with torch.no_grad():
                val_loss = float(-net.log_prob(z_val, ctx_val).mean())
            history.append(val_loss)
            if val_loss < best:
                best, since_best = val_loss, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                since_best += 1
            bar.update(task, advance=1, description=f"training MADE  epoch {epoch + 1}  val loss {val_loss:.4f}")
            if since_best >= patience:
                break
    return best_state, history


def _finite_2d(x, name):
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ShapeError(f"{name} must have shape (N, D), got {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        raise ObservationError(f"{name}[{i}, {j}] = {arr[i, j]!r}; all entries must be finite")
    return arr


_RECIPE_KEYS = {"name": str, "description": str, "campaign": (str, list), "key": int, "architecture": dict, "train": dict}


def train_recipe(recipe_path, out_dir, overwrite=False) -> MADEEmulator:
    """Train the SECRET emulator a recipe TOML describes, on its (complete) campaign stores.

    The recipe names the campaign recipe whose store holds the training set (``campaign``), or a
    list of them over the same simulator, configuration and parameter box, whose stores are
    concatenated; the architecture (:class:`MADESpec` fields except features/order) and the
    training options of :func:`train_made`. The card's training domain is the campaigns' box.
    The artifact is written to ``out_dir`` with the recipe copied in.
    """
    import shutil
    import tomllib
    from pathlib import Path

    from crinfer.campaign.registry import build_simulator

    recipe_path, out_dir = Path(recipe_path), Path(out_dir)
    recipe = tomllib.loads(recipe_path.read_text())
    for name, value in recipe.items():
        if name not in _RECIPE_KEYS or not isinstance(value, _RECIPE_KEYS[name]):
            raise ConfigurationError(f"{recipe_path}: key {name!r} = {value!r}; allowed keys and types: "
                                     f"{ {k: _type_names(t) for k, t in _RECIPE_KEYS.items()} }")
    if "campaign" not in recipe:
        raise ConfigurationError(f"{recipe_path}: 'campaign' (the training set's campaign recipe) is required")
    names = recipe["campaign"] if isinstance(recipe["campaign"], list) else [recipe["campaign"]]
    campaign, theta, x = _training_set(names, recipe_path)
    simulator = build_simulator(campaign.simulator, campaign.params, dict(campaign.config))
    key = recipe.get("key", 0)
    spec = MADESpec.with_random_order(key, x.shape[1], context_features=theta.shape[1], **recipe.get("architecture", {}))
    emulator = train_made(x, theta, campaign.params, spec, key=key, observable=simulator.observable,
                          name=recipe.get("name", recipe_path.parent.name), **recipe.get("train", {}))
    # the design covers the campaign's whole box (a Latin hypercube's extreme points sit up to
    # one stratum inside it); the guard checks against the box
    emulator.card.training_domain = {p.name: [float(p.low), float(p.high)] for p in campaign.params}
    emulator.card.notes = f"{recipe.get('description', '')} Trained from {recipe_path.name} on {' + '.join(names)}."
    emulator.save(out_dir, overwrite=overwrite)
    if (out_dir / recipe_path.name).resolve() != recipe_path.resolve():
        shutil.copyfile(recipe_path, out_dir / recipe_path.name)
    return emulator


def _type_names(t):
    return " or ".join(c.__name__ for c in t) if isinstance(t, tuple) else t.__name__


def _box(campaign):
    return [(p.name, float(p.low), float(p.high), p.scale) for p in campaign.params]


def _training_set(names, recipe_path):
    """(first campaign recipe, theta, x) of the list of campaign recipe files ``names``,
    concatenated in order; every campaign must share the first one's simulator, configuration
    and parameter box."""
    from crinfer.campaign.recipe import load_recipe
    from crinfer.campaign.runner import load_dataset

    if not names or not all(isinstance(n, str) for n in names):
        raise ConfigurationError(f"{recipe_path}: campaign = {names!r}; give a campaign recipe path or a "
                                 "non-empty list of them")
    campaigns = [load_recipe(n) for n in names]
    first = campaigns[0]
    for name, other in zip(names[1:], campaigns[1:]):
        for what, a, b in (("simulator", first.simulator, other.simulator), ("config", first.config, other.config),
                           ("parameter box", _box(first), _box(other))):
            if a != b:
                raise ConfigurationError(f"{recipe_path}: campaign {name!r} has {what} {b!r}, but {names[0]!r} "
                                         f"has {a!r}; the campaigns of one training set must agree")
    data = [load_dataset(c.store)[:2] for c in campaigns]
    return first, np.concatenate([t for t, _ in data]), np.concatenate([x for _, x in data])
