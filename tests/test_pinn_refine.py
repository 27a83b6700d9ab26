"""PINN refinements: an artifact refined by L-BFGS alone (steps = 0), a refinement of the
refinement (the card's warm-start chain, --seed, --seconds) and a wider recipe started from the
narrower artifact. Its own file, so that pytest-xdist runs it beside test_pinn_recipe.py (the tiny
base recipe, trained in both, compiles once per run: tests/conftest.py's XLA cache)."""
import json

import jax.numpy as jnp
import numpy as np
import pytest

from crinfer.core.errors import ConfigurationError
from crinfer.emulators.pinn.emulator import PINNEmulator
from crinfer.emulators.pinn.recipe import seconds_with_warm_starts, train_recipe

from pinn_helpers import lbfgs_objective, record_lbfgs_draws, tiny_recipe


@pytest.mark.usefixtures("unoptimised_xla")
def test_lbfgs_refinements_keep_their_warm_start_chain_and_a_wider_recipe_starts_at_the_solution(tmp_path, monkeypatch):
    recipe = tiny_recipe(tmp_path)
    train_recipe(recipe, tmp_path / "out", progress=False)
    back = PINNEmulator.load(tmp_path / "out")
    metrics = back.card.metrics
    drawn = record_lbfgs_draws(monkeypatch)
    E = np.logspace(-1, 6, 5)
    # steps = 0: the warm start refined by L-BFGS alone, on slices balanced at the start
    refine = tmp_path / "refine.toml"
    refine.write_text(recipe.read_text().replace('name = "tiny"', 'name = "tiny"\nwarm_start = "out"').replace(
        "\nsteps = 20\n", "\nsteps = 0\n"))
    refined = train_recipe(refine, tmp_path / "refined", progress=False)
    (lbfgs,) = drawn
    np.testing.assert_array_equal(np.asarray(lbfgs["model"].morphology.out.v), np.asarray(back.model.morphology.out.v))
    assert float(jnp.mean(lbfgs["weights"])) == pytest.approx(1.0) and float(jnp.std(lbfgs["weights"])) > 1e-3
    assert lbfgs_objective(lbfgs, refined.model) < 0.99 * lbfgs_objective(lbfgs, back.model)
    assert refined.card.metrics["steps"] == 0 and refined.card.metrics["warm_start"]["name"] == "tiny"
    assert refined.card.metrics["lbfgs_iterations"] == metrics["lbfgs_iterations"] == 5
    # a refinement of the refinement keeps the whole chain, and its seconds add up along it; with 10 ms
    # to run, L-BFGS stops after its first iteration (its compilation alone takes longer)
    twice = tmp_path / "twice.toml"
    twice.write_text(refine.read_text().replace('warm_start = "out"', 'warm_start = "refined"'))
    chain = train_recipe(twice, tmp_path / "twice", progress=False, seed=7, seconds=0.01).card.metrics
    assert chain["lbfgs_iterations"] == 1
    assert np.loadtxt(tmp_path / "twice" / "history.csv", delimiter=",", skiprows=1, ndmin=2)[-1, 0] == 1
    first, second = (run["pts"][:, :16] for run in drawn)     # the uniform halves: seed 7 draws new ones
    assert not np.array_equal(np.asarray(first), np.asarray(second))
    assert json.loads((tmp_path / "twice" / "spec.json").read_text())["train"]["seed"] == 7
    assert chain["warm_start"]["warm_start"] == refined.card.metrics["warm_start"]
    assert chain["warm_start"]["final_loss"] == refined.card.metrics["final_loss"]
    assert seconds_with_warm_starts(chain) == pytest.approx(sum(
        m["train_seconds_this_run"] for m in (chain, refined.card.metrics, metrics)))
    # a wider recipe starts from the narrower artifact at its solution; a narrower one is refused
    wider = tmp_path / "wider.toml"
    wider.write_text(refine.read_text().replace("width = 16", "width = 24"))
    drawn.clear()
    widened = train_recipe(wider, tmp_path / "wider_out", progress=False)
    (lbfgs,) = drawn
    start = PINNEmulator(back.problem, lbfgs["model"], widened.arch, card=None)
    np.testing.assert_allclose(np.asarray(start.psi(8.5, 0.0, E)), np.asarray(back.psi(8.5, 0.0, E)), rtol=1e-6)
    assert PINNEmulator.load(tmp_path / "wider_out").arch["width"] == 24
    narrower = tmp_path / "narrower.toml"
    narrower.write_text(refine.read_text().replace('warm_start = "out"', 'warm_start = "wider_out"'))
    with pytest.raises(ConfigurationError, match=r"width 24, parameters \[\].*width 16, parameters \[\].*narrower width"):
        train_recipe(narrower, tmp_path / "narrower_out", progress=False)
