"""PINN recipes, artifacts and their evaluation: training a recipe into a card, warm starts,
refusals, the evaluation script, and (slow) the shipped artifacts against their cards."""
import dataclasses
import hashlib
import json
import warnings
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from crinfer.core.errors import ConfigurationError
from crinfer.emulators.pinn.emulator import PINNEmulator, problem_hash
from crinfer.emulators.pinn.problem import PINNProblem
from crinfer.emulators.pinn.recipe import seconds_with_warm_starts, train_recipe, warn_if_trials_differ
from crinfer.emulators.pinn.reference import reference_psi
from crinfer.emulators.pinn.validation import validate, where_largest
from crinfer.emulators.pinn.train import PINNTrainer, _bin_losses

from pinn_helpers import TINY


@pytest.mark.usefixtures("unoptimised_xla")
def test_recipe_trains_an_artifact_with_a_card_and_refuses_to_overwrite(tmp_path, monkeypatch):
    recipe = tmp_path / "recipe.toml"
    arch = "\n".join(f"{k} = {v}" for k, v in TINY.items())
    recipe.write_text(f"""name = "tiny"\n[problem]\nlosses = "none"\n[architecture]\n{arch}
[train]\nsteps = 20\nbatch = 64\nenergy_bins = 4\ncheckpoint_every = 10\nlbfgs_steps = 5\nlbfgs_points = 128\n""")
    drawn, draw = [], PINNTrainer.lbfgs_collocation

    def recorded(trainer, n_points=None):
        pts, scales = draw(trainer, n_points)
        drawn.append(dict(model=trainer.model, pts=pts, scales=scales, weights=trainer.weights))
        return pts, scales

    monkeypatch.setattr(PINNTrainer, "lbfgs_collocation", recorded)
    emu = train_recipe(recipe, tmp_path / "out", progress=False)
    # L-BFGS lowers its objective: the slice-weighted mean square on its 128 points
    (lbfgs,) = drawn
    assert lbfgs["pts"].shape == (4, 32, 3)
    objective = lambda run, m: float(jnp.sum(run["weights"] * _bin_losses(m, emu.problem, run["pts"], 1.0, run["scales"])))
    assert objective(lbfgs, emu.model) < 0.99 * objective(lbfgs, lbfgs["model"])
    back = PINNEmulator.load(tmp_path / "out")
    metrics = back.card.metrics
    assert metrics["steps"] == 20 and back.card.kind == "pinn"
    assert back.card.dataset_hash == problem_hash(back.problem)
    assert metrics["validation"] == pytest.approx(validate(back), rel=1e-5)   # the card describes these weights
    assert (tmp_path / "out" / "history.csv").exists()
    E = np.logspace(-1, 6, 5)
    np.testing.assert_array_equal(np.asarray(back.psi(8.5, 0.0, E)), np.asarray(emu.psi(8.5, 0.0, E)))
    with pytest.raises(FileExistsError, match="overwrite"):
        train_recipe(recipe, tmp_path / "out", progress=False)
    # a conditional recipe starts from this fixed-parameter artifact; another parameter count does not
    cond = tmp_path / "cond.toml"
    cond.write_text(recipe.read_text().replace('name = "tiny"', 'name = "cond"\nwarm_start = "out"').replace(
        'losses = "none"', 'losses = "none"\nranges = { z_h = [3.0, 5.0], D0 = [2.0, 6.0] }').replace(
        "steps = 20\n", "steps = 2\n").replace("lbfgs_steps = 5", "lbfgs_steps = 0"))
    started = train_recipe(cond, tmp_path / "cond_out", progress=False)
    assert started.problem.names == ("z_h", "D0") and started.card.metrics["steps"] == 2
    assert started.card.metrics["warm_start"] == {      # the card names the weights it started from, and their training
        "name": "tiny", "created": back.card.created,
        "weights_sha256": hashlib.sha256((tmp_path / "out" / "weights.safetensors").read_bytes()).hexdigest(),
        **{k: metrics[k] for k in ("steps", "device", "train_seconds_this_run", "final_loss")}}
    assert "warm_start" not in back.card.metrics
    # steps = 0: the warm start refined by L-BFGS alone, on slices balanced at the start
    refine = tmp_path / "refine.toml"
    refine.write_text(recipe.read_text().replace('name = "tiny"', 'name = "tiny"\nwarm_start = "out"').replace(
        "\nsteps = 20\n", "\nsteps = 0\n"))
    drawn.clear()
    refined = train_recipe(refine, tmp_path / "refined", progress=False)
    (lbfgs,) = drawn
    np.testing.assert_array_equal(np.asarray(lbfgs["model"].morphology.out.v), np.asarray(back.model.morphology.out.v))
    assert float(jnp.mean(lbfgs["weights"])) == pytest.approx(1.0) and float(jnp.std(lbfgs["weights"])) > 1e-3
    assert objective(lbfgs, refined.model) < 0.99 * objective(lbfgs, back.model)
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
    zero = tmp_path / "zero.toml"                               # nothing to refine
    zero.write_text(recipe.read_text().replace("\nsteps = 20\n", "\nsteps = 0\n"))
    with pytest.raises(ConfigurationError, match="steps = 0 .* needs a warm_start"):
        train_recipe(zero, tmp_path / "zero_out", progress=False)
    assert not (tmp_path / "zero_out").exists()
    one = tmp_path / "one.toml"
    one.write_text(cond.read_text().replace('warm_start = "out"', 'warm_start = "cond_out"').replace(
        ", D0 = [2.0, 6.0]", ""))
    with pytest.raises(ConfigurationError, match=r"parameters \['z_h', 'D0'\].*parameters \['z_h'\].*or as many"):
        train_recipe(one, tmp_path / "one_out", progress=False)
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[trian]\nsteps = 1\n')
    with pytest.raises(ConfigurationError, match="trian"):
        train_recipe(bad, tmp_path / "bad_out", progress=False)
    bad.write_text('name = "x"\n[train]\nsteps = 1\n[train.quick]\nlbfgs_relative_to_u = true\n')
    with pytest.raises(ConfigurationError, match=r"\[train.quick\]: unknown keys \['lbfgs_relative_to_u'\]; allowed: steps"):
        train_recipe(bad, tmp_path / "bad_out", progress=False)
    assert not (tmp_path / "bad_out").exists()


@pytest.mark.usefixtures("unoptimised_xla")
def test_correction_recipe_wraps_its_warm_start_and_continues_only_as_itself(tmp_path, monkeypatch):
    """A recipe with [architecture.correction] on a plain warm start trains a correction stage on it
    (the refinement's model is a CorrectedPINN whose base is the start, the artifact reloads as one
    and its card names the start); a corrected start continues under the same stage only. The
    training itself is the L-BFGS refinement's (tested above): here it is replaced by a recorder."""
    from crinfer.emulators.pinn.networks import CorrectedPINN
    from pinn_helpers import tiny_emulator

    pb = PINNProblem()
    tiny_emulator(pb, seed=2).save(tmp_path / "base")
    given = []

    def recorded(trainer, steps=None, n_points=None, progress=True, seconds=None):
        given.append(trainer.model)
        return 0

    monkeypatch.setattr(PINNTrainer, "refine_lbfgs", recorded)
    arch = "\n".join(f"{k} = {v}" for k, v in TINY.items())
    recipe = tmp_path / "correct.toml"
    recipe.write_text(f"""name = "corrected"\nwarm_start = "base"\n[problem]\nlosses = "none"\n[architecture]\n{arch}
[architecture.correction]\nwidth = 8\ndepth = 1\nn_radial = 4\nn_vertical = 4\nn_fourier = 4\nscale = 0.01
[train]\nsteps = 0\nbatch = 64\nenergy_bins = 4\nlbfgs_steps = 5\nlbfgs_points = 128\n""")
    emu = train_recipe(recipe, tmp_path / "out", progress=False)
    (model,) = given
    start = PINNEmulator.load(tmp_path / "base")
    assert isinstance(model, CorrectedPINN) and model.scale == 0.01
    np.testing.assert_array_equal(np.asarray(model.base.morphology.out.v), np.asarray(start.model.morphology.out.v))
    back = PINNEmulator.load(tmp_path / "out")
    assert isinstance(back.model, CorrectedPINN) and back.arch["correction"]["width"] == 8
    assert back.card.metrics["warm_start"]["name"] == "tiny"
    E = np.logspace(-1, 6, 5)
    np.testing.assert_array_equal(np.asarray(back.psi(8.5, 0.0, E)), np.asarray(emu.psi(8.5, 0.0, E)))
    again = tmp_path / "again.toml"                             # the corrected PINN refined as itself
    again.write_text(recipe.read_text().replace('warm_start = "base"', 'warm_start = "out"'))
    train_recipe(again, tmp_path / "again_out", progress=False)
    np.testing.assert_array_equal(np.asarray(given[-1].correction.out.v), np.asarray(back.model.correction.out.v))
    other = tmp_path / "other.toml"
    other.write_text(again.read_text().replace("scale = 0.01", "scale = 0.02"))
    with pytest.raises(ConfigurationError, match="continues only under the same architecture"):
        train_recipe(other, tmp_path / "other_out", progress=False)


def test_warm_start_under_another_trial_function_warns():
    """(d) cannot take (b)'s "exact_z" trial: a warm start from it is flagged; a diffusion-only
    start (whose trial ignores losses) or the same trial is not."""
    exact = PINNProblem(losses="ic_cmb", trial="exact_z")
    conditional = PINNProblem(losses="ic_cmb", ranges={"D0": [1.0, 10.0]})
    with pytest.warns(UserWarning, match="trained with trial='exact_z', this recipe has trial='slab'"):
        warn_if_trials_differ(exact, conditional, "pinn_b_ic")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_trials_differ(PINNProblem(trial="loss_length_z"), conditional, "pinn_a_diffusion")
        warn_if_trials_differ(exact, dataclasses.replace(exact), "pinn_b_ic")


@pytest.mark.usefixtures("unoptimised_xla")
def test_pinn_eval_refuses_an_artifact_of_another_recipe_and_unknown_labels(tmp_path, experiment_module, capsys):
    """``pinn_eval.py --only a --artifact DIR`` reports (a)'s figures only for a PINN of (a)'s problem;
    an unknown recipe label is refused by name."""
    pinn_eval = experiment_module("pinn_eval")
    shipped = Path(__file__).resolve().parents[1] / "emulators" / "pinn_b_ic"
    with pytest.raises(SystemExit):
        pinn_eval.main(["--only", "a", "--artifact", str(shipped), "--out", str(tmp_path)])
    assert "solves another problem than recipe (a)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        pinn_eval.main(["--only", "ax", "--out", str(tmp_path)])
    assert "unknown recipe label(s) ['x']; allowed: abcd" in capsys.readouterr().err
    assert not (tmp_path / "summary.json").exists()


def test_where_largest_finds_the_worst_point_and_the_maximum_per_radius():
    """The located maximum is the largest of all grids with its own (r, z, E) and point index;
    the per-radius maxima run over heights, energies and points."""
    r, z, E = np.array([0.0, 10.0, 19.0]), np.array([0.0, 1.0]), np.array([0.1, 10.0, 1e3, 1e5])
    first, second = np.full((3, 2, 4), 0.01), np.full((3, 2, 4), 0.02)
    first[0, 1, 3] = 0.05                  # the first point's worst: r = 0, z = 1, 1e5 GeV
    second[2, 0, 1] = 0.07                 # the overall worst: second point, r = 19, z = 0, 10 GeV
    runs = [dict(r=r, z=z, E=E, rel=first), dict(r=r, z=z, E=E, rel=second)]
    w = where_largest(runs)
    assert (w["max_rel_err"], w["r_kpc"], w["z_kpc"], w["E_GeV"], w["point"]) == (0.07, 19.0, 0.0, 10.0, 1)
    assert w["max_by_radius"] == [0.05, 0.02, 0.07] and w["radii_kpc"] == [0.0, 10.0, 19.0]


@pytest.mark.slow  # the exact series at up to 5 held-out points per artifact: ~1 min; run by `make test-all`
@pytest.mark.parametrize("name", ["pinn_a_diffusion", "pinn_b_ic", "pinn_c_two_species", "pinn_d_conditional"])
def test_shipped_artifact_matches_its_model_card(name):
    """Each shipped PINN loads, its card names its problem, and the card's validation metrics
    are those of its weights: to 1e-4 relative, or 5e-6 absolute for the float32 psi's rounding,
    which differs between CPUs (an AMD EPYC without AVX-512, 2026-12-07: up to 1.8e-6 in the
    cards of (b) and (c), written on another host; the (c) rounds of sessions 41-42 differ from the
    shipped (c) by 1.3e-4 or more in the median)."""
    emu = PINNEmulator.load(Path(__file__).resolve().parents[1] / "emulators" / name, guard="refuse")
    assert emu.card.dataset_hash == problem_hash(emu.problem)
    card = emu.card.metrics["validation"]
    flat = lambda d: {f"{k}.{kk}": vv for k, v in d.items() for kk, vv in (v.items() if isinstance(v, dict) else [("", v)])}
    assert flat(validate(emu, card.get("n_heldout", 5))) == pytest.approx(flat(card), rel=1e-4, abs=5e-6)


@pytest.mark.slow  # ~50 s (51 s in session 40): the series at twice its modes and energy points, both species
def test_reference_is_converged_where_the_two_species_errors_sit():
    """(c)'s reference (the validation defaults: 100 x 800 modes, 400 energy points per decade) moves
    by far less than the 1% acceptance with twice the modes and points, in the outer halo and on the
    axis where (c)'s largest errors sit (measured 2026-12-07: electrons <= 1.3e-5 above the disc, 7.9e-4 at
    r = 19 kpc, z = 0, 1e5 GeV; protons <= 3.2e-4)."""
    problem = PINNEmulator.load(Path(__file__).resolve().parents[1] / "emulators" / "pinn_c_two_species").problem
    r, z = np.array([0.0, 1.0, 17.0, 18.0, 19.0]), 4.0 * np.array([0.0, 0.71, 0.95])
    for species, E in ((0, np.logspace(3, 5.5, 6)), (1, np.array([0.1, 0.178, 0.316, 1.0]))):
        psi = reference_psi(problem, [], r, z, E, species=species)
        finer = reference_psi(problem, [], r, z, E, n_bessel=200, n_sine=1600, points_per_decade=800,
                              species=species)
        assert np.max(np.abs(finer / psi - 1)) < 1e-3, problem.species[species]
