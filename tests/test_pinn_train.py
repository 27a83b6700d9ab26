"""PINN training: collocation, weightings, the Adam step, loss balancing, deterministic resumable
training, L-BFGS's objective."""
import dataclasses
import math
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from crinfer.core.errors import ConfigurationError
from crinfer.emulators.pinn.emulator import PINNEmulator, model_weights
from crinfer.emulators.pinn.networks import architecture
from crinfer.emulators.pinn.problem import PINNProblem
from crinfer.emulators.pinn.recipe import fit_schedule, train_recipe
from crinfer.emulators.pinn.residual import residual, u_value
from crinfer.emulators.pinn.train import (X_TOP, PINNTrainer, TrainConfig, _bin_losses, learning_rate, new_model,
                                         point_scales, sample_points, scaled_residuals, slice_edges)

from pinn_helpers import TINY, points, tiny_emulator

pytestmark = pytest.mark.usefixtures("unoptimised_xla")


def test_training_step_solves_the_problem_with_its_parameter_order():
    """The jitted training step evaluates the same loss as the problem itself, for parameters
    named in non-alphabetical order (the step is compiled from a serialised problem; a sorted
    serialisation once swapped z_h's and gamma's inputs in training)."""
    pb = PINNProblem(ranges={"z_h": [2.0, 8.0], "D0": [1.0, 10.0]})   # sorted: D0 first
    trainer = PINNTrainer(pb, TrainConfig(steps=1, batch=32, energy_bins=2), architecture(**TINY))
    key = jax.random.key(7)
    fresh = sample_points(key, pb, 8, 2)
    expected = _bin_losses(trainer.model, pb, jnp.concatenate([fresh, trainer.rad_points], axis=1), 1.0)
    *_, bins = trainer._train_step(trainer.model, trainer.opt_state, key, trainer.rad_points,
                                   trainer.weights, jnp.float32(1.0), jnp.float32(1e-3))
    np.testing.assert_allclose(np.asarray(bins), np.asarray(expected), rtol=1e-5)


def test_collocation_stays_below_the_energy_ceiling_where_the_residual_is_finite():
    """With losses, x = 1 is the energy ceiling, where the hard constraint makes ln u = -inf: in
    float32 the largest uniform draw of the top slice lands there, and so does x within ~6e-8 of 1
    (x + 1 rounds to 2), giving a NaN residual (a GPU run died of it). Collocation stops at X_TOP,
    where the residual is finite."""
    pb = PINNProblem(losses="ic_cmb", ranges={"D0": [1.0, 10.0]})
    model = new_model(pb, TINY, jax.random.key(0))
    at = lambda x: residual(model, pb, jnp.array([0.5, 0.2, x, 0.1], jnp.float32))
    top_draw = jnp.float32(0.75) + jnp.float32(0.25) * jnp.nextafter(jnp.float32(1.0), jnp.float32(0.0))
    assert float(top_draw) == 1.0                                # the rounding that produced the NaN
    assert not np.isfinite(np.asarray(at(top_draw))).all()
    assert not np.isfinite(np.asarray(at(jnp.nextafter(jnp.float32(1.0), jnp.float32(0.0))))).all()
    assert np.isfinite(np.asarray(at(jnp.float32(X_TOP)))).all()
    pts = sample_points(jax.random.key(3), pb, 4096, 8)
    assert float(pts[..., 2].max()) <= X_TOP and float(pts[..., 2].min()) >= -1.0


def test_rho_max_keeps_every_collocation_draw_inside_it():
    """rho_max < 1 leaves the strip rho_max R_h < r < R_h out of Adam's batches, RAD's draws and
    L-BFGS's set alike (the (b) refinement of docs/pinn.md), and still spans the validated domain;
    their energies keep to the configured slices (here Chebyshev: edges at x = -1, -0.5, 0.5, 1)."""
    pb = PINNProblem()
    cfg = TrainConfig(steps=2, batch=252, energy_bins=3, energy_spacing="chebyshev", pool_factor=2,
                      balance_every=1, resample_every=1, lbfgs_points=512, rho_max=0.97)
    trainer = PINNTrainer(pb, cfg, TINY)
    trainer.run(2, progress=False)
    pts, _ = trainer.lbfgs_collocation()
    edges = np.array([-1.0, -0.5, 0.5, 1.0])
    for draw in (trainer.rad_points, pts):
        assert 0.95 < float(draw[..., 0].max()) <= 0.97
        x = np.asarray(draw[..., 2])
        assert (x >= edges[:-1, None] - 1e-6).all() and (x <= edges[1:, None] + 1e-6).all()


def test_chebyshev_energy_slices_narrow_towards_both_ends_of_the_energy_range():
    """energy_spacing="chebyshev": the slices' edges are the Chebyshev-Lobatto points -cos(pi k/n),
    so the end slices are (1 - cos(pi/n)) / (2/n) times as wide as equal ones (0.30 for n = 8: a
    third of a decade of the nine from 0.1 GeV to the ceiling with losses) and hold as many points
    (the trainer's sets: test_rho_max_keeps_every_collocation_draw_inside_it). Any other spacing is
    refused by name."""
    pb = PINNProblem()
    n = 8
    edges = np.asarray(slice_edges(n, "chebyshev"))
    np.testing.assert_allclose(edges, -np.cos(np.pi * np.arange(n + 1) / n), atol=1e-7)
    np.testing.assert_allclose(np.asarray(slice_edges(n)), np.linspace(-1, 1, n + 1), atol=1e-7)
    assert (edges[1] - edges[0]) / (2 / n) == pytest.approx(0.3045, abs=1e-3)
    x = np.asarray(sample_points(jax.random.key(5), pb, 64, n, spacing="chebyshev")[..., 2])   # (slices, points)
    assert (x >= edges[:-1, None]).all() and (x <= edges[1:, None]).all()
    with pytest.raises(ConfigurationError, match="energy_spacing = 'log'.*uniform, chebyshev"):
        TrainConfig(energy_spacing="log")
    with pytest.raises(ConfigurationError, match="spacing 'log'; allowed: uniform, chebyshev"):
        sample_points(jax.random.key(5), pb, 64, n, spacing="log")


def test_relative_weighting_is_the_residual_over_u_inside_the_validated_domain():
    """weighting="relative": the loss's residual is R/u (times exp(c0)) for both species at points with
    rho, zeta <= 0.95 and E <= E_max, and finite as close to the boundary as collocation gets, where
    u -> 0 (the hard factors frozen at the edge); the default keeps the hard factors (1 - rho^2)
    sigma e in the numerator, so it weighs R/u less towards the boundary by exactly them."""
    with jax.enable_x64(True):
        pb = PINNProblem(losses="ic_cmb+gas", species=("electron", "proton"))
        model = new_model(pb, TINY, jax.random.key(4))
        inside = points(64, 5)
        inside[:, 2] = np.minimum(inside[:, 2], float(pb.to_x(math.log(pb.E_max))))
        edge = np.array([[0.9999, 0.5, 0.0], [0.3, 0.9999, 0.5], [0.5, 0.3, X_TOP]])
        pts = jnp.asarray(np.concatenate([inside, edge]))

        @jax.jit
        def fields(p):
            lnE = pb.l_range[0] + (p[:, 2] + 1.0) * pb.dl_dx
            v = pb.values(np.zeros(0))
            hard = jnp.stack([pb.hard_factor(p[:, 0], p[:, 1], lnE, v, s) * pb.energy_factor(lnE, s)
                              for s in range(2)], axis=-1)
            return (jax.vmap(lambda y: residual(model, pb, y))(p), jax.vmap(lambda y: u_value(model, pb, y))(p),
                    hard, scaled_residuals(model, pb, p[None], 1.0, weighting="relative")[0],
                    scaled_residuals(model, pb, p[None], 1.0)[0])

        R, u, hard, relative, default = (np.asarray(a) for a in fields(pts))
        n = len(inside)
        np.testing.assert_allclose(relative[:n], R[:n] / u[:n] * math.exp(model.log_scale0), rtol=1e-6)
        np.testing.assert_allclose(default[:n], relative[:n] * hard[:n], rtol=1e-6)
        assert hard[:n].min() < 0.05            # the default's weight on R/u falls below 1/20 here
        assert np.isfinite(relative[n:]).all() and np.abs(relative[n:]).max() < 1e3 * np.abs(relative[:n]).max()


def test_adam_step_minimises_the_configured_weighting():
    """adam_weighting picks the loss the Adam step descends: its loss is the weighted sum of the
    slices' mean squares under that weighting, at the fresh points of its key and the RAD half."""
    pb = PINNProblem(losses="ic_cmb")
    losses = {}
    for weighting in ("amplitude", "relative"):
        trainer = PINNTrainer(pb, TrainConfig(batch=64, energy_bins=4, adam_weighting=weighting), TINY)
        model, key, weights = trainer.model, jax.random.key(7), jnp.arange(1.0, 5.0, dtype=jnp.float32)
        loss = trainer._train_step(model, trainer.opt_state, key, trainer.rad_points, weights,
                                   jnp.float32(1.0), jnp.float32(1e-3))[2]
        pts = jnp.concatenate([sample_points(key, pb, trainer.n_half, 4), trainer.rad_points], axis=1)
        expected = jnp.sum(weights * _bin_losses(model, pb, pts, 1.0, weighting=weighting))
        assert float(loss) == pytest.approx(float(expected), rel=1e-5)
        losses[weighting] = float(loss)
    assert losses["relative"] > 1.5 * losses["amplitude"]     # R/u counts more towards the boundaries (x2.0 here)


def test_schedule_fitted_to_a_time_budget_keeps_the_decay_and_shares_the_compiled_step(tmp_path):
    """fit_schedule stretches steps and decay_steps together (the same total decay, whole
    checkpoints); the learning rate is optax's exponential decay; trainers that differ only in
    their schedule share one compiled step (the time probe does not compile twice)."""
    cfg = TrainConfig(steps=40_000, decay_steps=1_000, decay_rate=0.85, checkpoint_every=500)
    fitted = fit_schedule(cfg, seconds_per_step=0.004, seconds=300.0)
    assert fitted.steps == 75_000 and fitted.decay_steps == 1_875
    assert learning_rate(fitted, fitted.steps) == pytest.approx(learning_rate(cfg, cfg.steps), rel=1e-12)
    assert fit_schedule(cfg, 10.0, 1.0).steps == 500                     # never less than one checkpoint
    optax_schedule = optax.exponential_decay(cfg.lr, cfg.decay_steps, cfg.decay_rate)
    for step in (0, 1, 777, 40_000):
        assert learning_rate(cfg, step) == pytest.approx(float(optax_schedule(step)), rel=1e-6)
    with pytest.raises(ConfigurationError, match="seconds_per_step > 0"):
        fit_schedule(cfg, 0.0, 300.0)
    recipe_a = Path(__file__).resolve().parents[1] / "emulators" / "pinn_a_diffusion" / "recipe.toml"
    with pytest.raises(ConfigurationError, match="fit_seconds = -5"):      # refused before any probing
        train_recipe(recipe_a, tmp_path, fit_seconds=-5)
    pb = PINNProblem()
    small = TrainConfig(steps=10, batch=32, energy_bins=2)
    first = PINNTrainer(pb, small, architecture(**TINY))
    other = PINNTrainer(pb, dataclasses.replace(small, steps=99, decay_steps=7, lr=1e-4), architecture(**TINY))
    assert other._train_step is first._train_step


def test_training_reduces_the_residual_and_resumes_bit_for_bit(tmp_path):
    pb = PINNProblem()
    cfg = TrainConfig(steps=40, batch=64, energy_bins=4, balance_every=10, resample_every=10,
                      checkpoint_every=20, pool_factor=2, seed=5)
    straight = PINNTrainer(pb, cfg, TINY)
    straight.run(40, progress=False)
    first = PINNTrainer(pb, cfg, TINY)
    checkpoints = tmp_path / "checkpoints"
    first.run(20, checkpoints, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints"]     # staging folders swapped away
    checkpoints.replace(tmp_path / "checkpoints.previous")     # as if killed between the swap's renames
    resumed = PINNTrainer(pb, cfg, TINY)
    assert resumed.load_checkpoint(checkpoints) and resumed.step == 20
    resumed.run(40, progress=False)
    for a, b in zip(model_weights(straight.model).values(), model_weights(resumed.model).values()):
        np.testing.assert_array_equal(a, b)
    steps_and_losses = lambda t: [(h["step"], h["loss"]) for h in t.history]
    # the history resumes with the weights (the first run also recorded its last step, 20)
    assert [h for h in steps_and_losses(resumed) if h[0] != 20] == steps_and_losses(straight)
    seconds = [h["seconds"] for h in resumed.history]
    assert seconds == sorted(seconds) and seconds[0] > 0              # one clock across the two runs
    pts = sample_points(jax.random.key(99), pb, 256, 4)               # a fixed held-out set
    plain = jnp.ones(pts.shape[:2] + (1,))                            # the unscaled residual
    before = float(jnp.sum(_bin_losses(PINNTrainer(pb, cfg, TINY).model, pb, pts, 1.0, plain)))
    after = float(jnp.sum(_bin_losses(straight.model, pb, pts, 1.0, plain)))
    assert after < 0.7 * before, (before, after)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="notes.txt"):     # never swaps away a folder of other files
        first.save_checkpoint(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_collocation_gap_shows_an_lbfgs_fit_of_too_few_points(experiment_module, capsys):
    """L-BFGS on 32 points for ~1,000 weights fits the points, not the equation: its objective on
    fresh draws of the same kind of set (experiments/pinn_collocation_gap.py) is far above its own.
    Outside a terminal (pytest's captured stdout, a batch job's log) the bar's lines are printed.
    L-BFGS runs in float64 here (lbfgs_precision) and hands back a float32 model."""
    gap = experiment_module("pinn_collocation_gap")
    pb = PINNProblem()
    cfg = TrainConfig(steps=0, batch=32, energy_bins=2, pool_factor=2, lbfgs_steps=100, lbfgs_points=32,
                      lbfgs_precision="float64", seed=3)
    start = tiny_emulator(pb)
    before = gap.objectives_on_fresh_draws(start, cfg, 2)
    trainer = PINNTrainer(pb, cfg, model=start.model)
    capsys.readouterr()
    trainer.refine_lbfgs(progress=True)
    own = trainer.history[-1]["loss"]
    logged = [line.split() for line in capsys.readouterr().out.splitlines() if line]
    assert [line[:2] for line in logged] == [["L-BFGS", "50/100"], ["L-BFGS", "100/100"]]
    assert float(logged[-1][3]) == pytest.approx(own, rel=1e-4)
    assert all(w.dtype == jnp.float32 for w in jax.tree.leaves(eqx.filter(trainer.model, eqx.is_inexact_array)))
    after = gap.objectives_on_fresh_draws(PINNEmulator(pb, trainer.model, start.arch, start.card), cfg, 2)
    assert own < 0.01 * min(b for b, _ in before), (own, before)      # L-BFGS fitted its points...
    assert min(a for a, _ in after) > 20 * own, (own, after)            # ...more than the equation
    assert min(u for _, u in after) > 20 * own, (own, after)            # the uniform half alone too


def test_float64_objective_follows_its_gradient_where_float32_rounds():
    """lbfgs_precision = "float64" casts weights, points and scales (lbfgs_objective_in, as
    refine_lbfgs does), and the residual's autodiff derivatives follow: a central difference of
    L-BFGS's objective along its gradient with a step of 1e-6 matches the gradient's slope to 6e-11
    in float64, where float32's rounding (~1e-7 of the objective over a 1e-6 step) leaves 4.5e-3
    (measured here; keys 5 and 6: 9e-11 / 5.6e-11 against 3.3e-3 / 5.0e-3)."""
    pb = PINNProblem(losses="ic_cmb")
    trainer = PINNTrainer(pb, TrainConfig(batch=64, energy_bins=2), model=tiny_emulator(pb).model)
    pts = sample_points(jax.random.key(4), pb, 32, 2)
    scales = point_scales(trainer.model, pts, pb)

    def slope_mismatch(dtype, h=1e-6):
        params, _, data, objective = trainer.lbfgs_objective_in(dtype, pts, scales)
        assert all(a.dtype == dtype for a in data)
        objective = jax.jit(objective)
        value, grad = jax.value_and_grad(objective)(params, data)
        assert value.dtype == dtype
        norm = optax.tree.norm(grad)
        step = jax.tree.map(lambda g: (h / norm) * g, grad)
        central = (objective(optax.apply_updates(params, step), data)
                   - objective(jax.tree.map(lambda q, d: q - d, params, step), data)) / (2 * h)
        return abs(float(central) / float(norm) - 1.0)

    assert slope_mismatch(jnp.float64) < 1e-8
    assert slope_mismatch(jnp.float32) > 1e-6
