"""Training recipes: ``emulators/pinn_*/recipe.toml`` -> a trained artifact next to it.

A recipe has [problem] (PINNProblem fields), [architecture], [train] (TrainConfig fields) and
[train.quick] (overrides for the CPU-sized variant used by the tests), and optionally
``warm_start = "<folder of another artifact>"`` (relative to the recipe's folder; a one-species
artifact can start a several-species recipe, every output from its one, and a fixed-parameter
artifact a conditional recipe, at its fixed solution for every parameter point, and a narrower one
a wider recipe, at its own solution). A recipe with a
warm start and ``steps = 0`` only refines it with L-BFGS (``lbfgs_steps`` >= 1). A recipe whose
[architecture.correction] table the warm start lacks trains a correction stage on it, the warm
start held fixed (:class:`networks.CorrectedPINN`).
"""
from __future__ import annotations

import hashlib
import json
import resource
import time
import warnings
import tomllib
from dataclasses import asdict, fields, replace
from pathlib import Path

import jax
import numpy as np

from crinfer.core.errors import ConfigurationError
from crinfer.emulators.artifact import ModelCard

from .emulator import PINNEmulator, problem_hash
from .networks import architecture, build, widen_hidden, widen_inputs, widen_outputs
from .problem import PINNProblem
from .validation import validate
from .train import PINNTrainer, TrainConfig, initial_log_scale, mean_loss


def load_recipe(path) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"PINN recipe {path} does not exist")
    recipe = tomllib.loads(path.read_text())
    unknown = set(recipe) - {"name", "description", "warm_start", "problem", "architecture", "train"}
    if unknown:
        raise ConfigurationError(f"{path}: unknown keys {sorted(unknown)}; allowed: name, description, "
                                 "warm_start, problem, architecture, train")
    recipe["_dir"] = path.parent
    return recipe


def train_config(recipe: dict, quick: bool) -> TrainConfig:
    """The recipe's [train] settings, with [train.quick]'s over them when ``quick``."""
    train = dict(recipe.get("train", {}))
    overrides = train.pop("quick", {})
    allowed = [f.name for f in fields(TrainConfig)]
    for table, keys in (("[train]", train), ("[train.quick]", overrides)):
        unknown = sorted(set(keys) - set(allowed))
        if unknown:
            raise ConfigurationError(f"{table}: unknown keys {unknown}; allowed: {', '.join(allowed)}")
    return TrainConfig(**{**train, **(overrides if quick else {})})


def measure_step_seconds(problem: PINNProblem, config: TrainConfig, arch: dict, model=None) -> float:
    """Wall seconds per Adam step of ``config`` on this machine, on a throwaway trainer (the real
    run starts from ``model`` afresh): timed over one balancing and resampling period, after a
    warm-up past the first of each, so that every jitted function is compiled (and shared with
    the real run, whose steps differ only in the schedule)."""
    period = max(config.balance_every, config.resample_every)
    probe = PINNTrainer(problem, replace(config, steps=2 * period + 1), arch, model=model)
    probe.run(period + 1, progress=False)
    jax.block_until_ready(probe.model)
    t0 = time.perf_counter()
    probe.run(2 * period + 1, progress=False)
    jax.block_until_ready(probe.model)
    return (time.perf_counter() - t0) / period


def fit_schedule(config: TrainConfig, seconds_per_step: float, seconds: float) -> TrainConfig:
    """``config`` with as many Adam steps as ``seconds`` allow at ``seconds_per_step`` (whole
    checkpoints), and ``decay_steps`` scaled with them, so that the learning rate still decays
    by decay_rate ** (steps / decay_steps) over the run: the recipe's schedule, stretched."""
    if not seconds > 0 or not seconds_per_step > 0:
        raise ConfigurationError(f"fit_schedule needs seconds > 0 and seconds_per_step > 0, got "
                                 f"{seconds!r} and {seconds_per_step!r}")
    every = config.checkpoint_every
    steps = max(every, int(seconds / seconds_per_step) // every * every)
    return replace(config, steps=steps, decay_steps=max(1, round(config.decay_steps * steps / config.steps)))


def _fitted_config(config, out: Path, fit_seconds: float, problem, arch, model) -> tuple[TrainConfig, dict]:
    """The schedule fitted to ``fit_seconds`` of Adam on this machine; stored in
    ``out/fitted_schedule.json`` so that a resumed run keeps it (and does not probe again)."""
    if not fit_seconds > 0:
        raise ConfigurationError(f"fit_seconds = {fit_seconds!r} must be > 0 (the wall time to fit Adam's steps to)")
    record = out / "fitted_schedule.json"
    if record.exists():
        fitted = json.loads(record.read_text())
    else:
        per_step = measure_step_seconds(problem, config, arch, model)
        new = fit_schedule(config, per_step, 0.9 * fit_seconds)       # 10% for checkpoints and history
        fitted = dict(seconds=fit_seconds, seconds_per_step=per_step, steps=new.steps,
                      decay_steps=new.decay_steps, device=str(jax.devices()[0].device_kind))
        out.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(fitted, indent=2) + "\n")
    return replace(config, steps=fitted["steps"], decay_steps=fitted["decay_steps"]), fitted


def warn_if_trials_differ(start: PINNProblem, problem: PINNProblem, source) -> None:
    """Warn when a warm start with losses was trained under another trial function than
    ``problem``'s: its network complements that trial, so the start is off by their ratio."""
    if start.losses != "none" and start.trial != problem.trial:
        warnings.warn(f"warm start {source} was trained with trial={start.trial!r}, this recipe has "
                      f"trial={problem.trial!r}: the start's solution is off by the ratio of the two "
                      "trial functions", stacklevel=3)


def warm_start_record(card: ModelCard, weights) -> dict:
    """What a card records of the artifact its run started from: name, creation time, the sha256
    of its weights file ``weights``, and how that artifact was trained (steps, device, seconds,
    final loss, and its own warm start, so that a chain of refinements keeps every stage)."""
    kept = ("steps", "device", "train_seconds_this_run", "final_loss", "warm_start")
    return dict(name=card.name, created=card.created,
                weights_sha256=hashlib.sha256(Path(weights).read_bytes()).hexdigest(),
                **{k: card.metrics[k] for k in kept if k in card.metrics})


def seconds_with_warm_starts(metrics: dict) -> float:
    """Training seconds of this run and of every warm start its card records (s); a lower bound
    where a card in the chain records only its start's name, time and sha256 (cards written
    before session 35, 2026-12-06)."""
    start = metrics.get("warm_start", {})
    return metrics.get("train_seconds_this_run", 0.0) + (seconds_with_warm_starts(start) if start else 0.0)


def train_recipe(path, out, quick: bool = False, overwrite: bool = False, progress: bool = True,
                 seconds: float | None = None, fit_seconds: float | None = None,
                 seed: int | None = None) -> PINNEmulator:
    """Train the recipe at ``path`` into the artifact folder ``out`` (checkpoints resume).

    ``seconds``: stop early (after a checkpoint) once this much wall time has passed, for
    device sessions with a time budget; the artifact then records the steps reached. The L-BFGS
    phase, which keeps no checkpoint, starts only with time left and stops after the iteration past
    it (the card's ``lbfgs_iterations``); a run out of time before it resumes there later.
    ``fit_seconds``: first time the Adam step here, then run as many steps as fit in this many
    seconds with the recipe's learning-rate decay stretched over them (:func:`fit_schedule`);
    the fitted schedule is kept in ``out/fitted_schedule.json``, the card and the spec.
    ``seed``: in place of the recipe's [train] seed (the spec records the one used); each round of
    an in-place refinement needs its own, or its uniform collocation points repeat the last round's.
    """
    recipe = load_recipe(path)
    out = Path(out)
    if (out / "card.json").exists() and not overwrite:
        raise FileExistsError(f"{out} already holds a trained PINN; pass overwrite=True (--overwrite)")
    problem = PINNProblem(**recipe.get("problem", {}))
    config = train_config(recipe, quick)
    if seed is not None:
        config = replace(config, seed=int(seed))
    arch = architecture(**recipe.get("architecture", {}))
    arch["log_scale0"] = initial_log_scale(problem)
    model, started_from = None, {}
    if "warm_start" in recipe:
        source = (recipe["_dir"] / recipe["warm_start"]).resolve()
        start = PINNEmulator.load(source, guard="off")
        shape = lambda a: {k: v for k, v in a.items() if k not in ("log_scale0", "width", "correction")}
        if shape(start.arch) != shape(arch) or start.arch["width"] > arch["width"] or \
                len(start.problem.names) not in (0, len(problem.names)) or \
                len(start.problem.species) not in (1, len(problem.species)):
            raise ConfigurationError(
                f"warm start {source} (architecture {shape(start.arch)}, width {start.arch['width']}, "
                f"parameters {list(start.problem.names)}, species {list(start.problem.species)}) does not fit this "
                f"recipe (architecture {shape(arch)}, width {arch['width']}, parameters {list(problem.names)}, "
                f"species {list(problem.species)}): allowed are the same architecture or a narrower width, "
                "no parameters or as many, one species or as many")
        same = lambda a: {k: v for k, v in a.items() if k != "log_scale0"}
        if "correction" in start.arch and (same(start.arch) != same(arch) or start.problem.names != problem.names
                                           or start.problem.species != problem.species):
            raise ConfigurationError(f"warm start {source} is a corrected PINN (architecture {same(start.arch)}, "
                                     f"parameters {list(start.problem.names)}, species {list(start.problem.species)}): "
                                     "it continues only under the same architecture, parameters and species")
        warn_if_trials_differ(start.problem, problem, source)
        model, arch["log_scale0"] = start.model, start.arch["log_scale0"]
        started_from = dict(warm_start=warm_start_record(start.card, source / "weights.safetensors"))
        if len(start.problem.species) != len(problem.species):
            model = widen_outputs(model, len(problem.species))
        if len(start.problem.names) != len(problem.names):
            model = widen_inputs(model, len(problem.names))
        if start.arch["width"] != arch["width"]:
            # the new units' key: the run's seed, folded so that it differs from the trainer's own draws
            model = widen_hidden(model, arch["width"], jax.random.fold_in(jax.random.key(config.seed), 1))
        if "correction" in arch and "correction" not in start.arch:
            # the stage's key: the run's seed, folded apart from the trainer's and widen_hidden's draws
            model = build(len(problem.names), len(problem.species), arch,
                          jax.random.fold_in(jax.random.key(config.seed), 2), base=model)
    if config.steps == 0 and (model is None or fit_seconds is not None):
        raise ConfigurationError(f"{path}: steps = 0 (no Adam phase: L-BFGS refinement only) needs a warm_start "
                                 "to refine and no --fit-seconds (there are no Adam steps to fit)")
    fitted = {}                         # the card's record of a schedule fitted to a time budget
    if fit_seconds is not None:
        config, fitted["fitted_schedule"] = _fitted_config(config, out, fit_seconds, problem, arch, model)
    trainer = PINNTrainer(problem, config, arch, model=model)
    checkpoints = out / "checkpoints"
    resumed = trainer.load_checkpoint(checkpoints)
    t0 = time.perf_counter()
    if seconds is not None:
        while trainer.step < config.steps and time.perf_counter() - t0 < seconds:
            trainer.run(min(config.steps, trainer.step + config.checkpoint_every), checkpoints, progress)
    else:
        trainer.run(config.steps, checkpoints, progress)
    lbfgs = {}
    time_left = None if seconds is None else seconds - (time.perf_counter() - t0)
    if config.lbfgs_steps and trainer.step >= config.steps and (time_left is None or time_left > 0):
        lbfgs["lbfgs_iterations"] = trainer.refine_lbfgs(progress=progress, seconds=time_left)
    train_seconds = time.perf_counter() - t0
    emu = PINNEmulator(problem, trainer.model, arch, card=None)
    emu.card = ModelCard(
        name=recipe.get("name", out.name), kind="pinn", dataset_hash=problem_hash(problem),
        n_train=int(trainer.step * config.batch), n_validation=0,
        training_domain={n: [float(lo), float(hi)] for n, (lo, hi) in problem.ranges.items()},
        metrics=dict(final_loss=mean_loss(trainer.history), steps=trainer.step,
                     train_seconds_this_run=train_seconds, resumed=bool(resumed),
                     device=str(jax.devices()[0].platform), quick=bool(quick),
                     peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                     validation=validate(emu), **lbfgs, **started_from, **fitted),
        notes=recipe.get("description", ""))
    out.mkdir(parents=True, exist_ok=True)
    if trainer.history:
        np.savetxt(out / "history.csv",
                   np.array([[h["step"], h["loss"], h["loss_weight"], h["seconds"]] for h in trainer.history]),
                   delimiter=",", header="step,loss,loss_weight,seconds", comments="")
    emu.save(out, train_config=asdict(config), overwrite=True)
    return emu

