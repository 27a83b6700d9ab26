"""sbibm check: crinfer's NUTS and sbi runners against sbibm reference posteriors.

Tasks (Lueckmann et al. 2021, "Benchmarking simulation-based inference", AISTATS):
gaussian_linear (NUTS on the exact likelihood, NPE), two_moons and slcp (NPE, NLE, NRE).
The metric is C2ST between our posterior samples and sbibm's reference samples (0.5 is
perfect), with sbibm's own classifier, the metric of the published figures, and beside it
with sbi 0.27's default classifier (early stopping), which ranks differently (docs/sbibm.md).

Writes to ``--out``: ``summary.json`` (``{task: {method: mean C2ST}}``), ``results.json``
(per observation, timings, settings), ``report.md`` (ours vs published), corner plots
(PNG) and one NetCDF InferenceData per task, method and observation.

    python experiments/sbibm_check.py --quick --out out_sbibm_quick
    python experiments/sbibm_check.py --out out_sbibm            # 10,000 simulations, obs 1-3
    python experiments/sbibm_check.py --out out_sbibm --jobs 7   # one process per task/method
    python experiments/sbibm_check.py --tasks slcp --out part_slcp        # any subset ...
    python experiments/sbibm_check.py --merge part_* --out out_sbibm      # ... merged into one report
    python experiments/sbibm_check.py --rescore out_old --out out_new     # C2ST again from stored samples

Randomness depends only on (seed, task, method, observation): a subset reproduces the
numbers of the full run.

NPE/NLE/NRE are single-round and therefore amortised: one network is trained per task
and method and evaluated at each observation (sbibm trained one network per observation).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

# Published C2ST (mean over sbibm observations 1-10; and over observations 1-3), single-round
# NPE / NLE / NRE at 10^3, 10^4 and 10^5 simulations. Source: the benchmark's own result table,
# github.com/sbi-benchmark/results, benchmarking_sbi/results/main_paper.csv (commit
# 2a49a5797d7ac6b1c8873f8ee01671713616656b), column C2ST, grouped by task, algorithm and
# num_simulations; these are the numbers behind Fig. 2 of Lueckmann et al. (2021).
PUBLISHED = {
    "gaussian_linear": {"NPE": {1000: 0.694, 10000: 0.552, 100000: 0.506},
                        "NLE": {1000: 0.650, 10000: 0.555, 100000: 0.515},
                        "NRE": {1000: 0.672, 10000: 0.560, 100000: 0.536}},
    "two_moons": {"NPE": {1000: 0.725, 10000: 0.606, 100000: 0.542},
                  "NLE": {1000: 0.773, 10000: 0.713, 100000: 0.668},
                  "NRE": {1000: 0.822, 10000: 0.761, 100000: 0.629}},
    "slcp": {"NPE": {1000: 0.975, 10000: 0.901, 100000: 0.831},
             "NLE": {1000: 0.946, 10000: 0.771, 100000: 0.699},
             "NRE": {1000: 0.972, 10000: 0.947, 100000: 0.919}},
}
PUBLISHED_OBS123 = {
    "gaussian_linear": {"NPE": {1000: 0.693, 10000: 0.543, 100000: 0.506},
                        "NLE": {1000: 0.606, 10000: 0.543, 100000: 0.516},
                        "NRE": {1000: 0.625, 10000: 0.553, 100000: 0.518}},
    "two_moons": {"NPE": {1000: 0.680, 10000: 0.586, 100000: 0.530},
                  "NLE": {1000: 0.708, 10000: 0.664, 100000: 0.608},
                  "NRE": {1000: 0.802, 10000: 0.734, 100000: 0.621}},
    "slcp": {"NPE": {1000: 0.976, 10000: 0.894, 100000: 0.850},
             "NLE": {1000: 0.946, 10000: 0.749, 100000: 0.692},
             "NRE": {1000: 0.976, 10000: 0.954, 100000: 0.896}},
}
PUBLISHED_SOURCE = ("github.com/sbi-benchmark/results benchmarking_sbi/results/main_paper.csv "
                    "@2a49a579 (Lueckmann et al. 2021, AISTATS, Fig. 2)")

METHODS = {"gaussian_linear": ("NUTS", "NPE"), "two_moons": ("NPE", "NLE", "NRE"),
           "slcp": ("NPE", "NLE", "NRE")}
# Estimators as in sbibm's benchmark configs (npe: nsf, nle: maf, nre: resnet; 50 hidden units).
ESTIMATOR = {"NPE": "nsf", "NLE": "maf", "NRE": "resnet"}
NUTS_THRESHOLD = 0.55
C2ST_CLASSIFIERS = "c2st: sbibm's MLP (no early stopping); c2st_sbi: sbi 0.27's default MLP (early stopping)"


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="1,000 simulations, observation 1, 1,000 posterior/C2ST samples")
    ap.add_argument("--out", type=Path, required=True, help="report folder")
    ap.add_argument("--num-simulations", type=int, default=None, help="simulation budget per network")
    ap.add_argument("--observations", type=int, nargs="+", default=None, help="sbibm observations (1-10)")
    ap.add_argument("--tasks", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--methods", nargs="+", default=None, choices=["NUTS", "NPE", "NLE", "NRE"],
                    help="only these methods (default: all of each task's)")
    ap.add_argument("--jobs", type=int, default=1, help="task/method units run in parallel processes")
    ap.add_argument("--merge", type=Path, nargs="+", default=None,
                    help="combine the results.json of these partial runs into --out (no new runs)")
    ap.add_argument("--rescore", type=Path, default=None,
                    help="recompute C2ST from this earlier run's stored posterior samples (same subsamples and "
                         "settings; no training or sampling) into --out; --tasks and --methods select")
    ap.add_argument("--posterior-samples", type=int, default=None, help="posterior draws per observation")
    ap.add_argument("--c2st-samples", type=int, default=None, help="samples per side in C2ST")
    ap.add_argument("--mcmc-chains", type=int, default=100, help="slice-sampler chains for NLE/NRE")
    ap.add_argument("--max-epochs", type=int, default=None, help="cap on training epochs (smoke tests)")
    ap.add_argument("--training-batch-size", type=int, default=None,
                    help="training batch (default sbi's 200; sbibm's published runs used 10000, capped "
                         "at the simulations)")
    ap.add_argument("--ensemble-size", type=int, default=1,
                    help="NPE/NLE/NRE: networks trained on the same simulations, posterior = their mixture "
                         "(the budget is unchanged; sbibm's published runs used one network)")
    ap.add_argument("--dropout", type=float, default=0.0,
                    help="NPE/NLE/NRE: dropout probability in the networks' hidden layers (regularisation; "
                         "sbibm's published runs used none)")
    ap.add_argument("--npe-estimator", choices=("nsf", "maf", "mdn"), default=ESTIMATOR["NPE"],
                    help="NPE's density estimator (sbibm's published NPE: nsf; mdn, a Gaussian mixture, "
                         "contains gaussian_linear's exact posterior family)")
    ap.add_argument("--nuts-warmup", type=int, default=500, help="NUTS warmup steps per chain")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--machine", default=platform.node() or "unknown", help="machine label for the report")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if not 0.0 <= args.dropout < 1.0:
        ap.error(f"--dropout {args.dropout}: must be in [0, 1)")
    args.num_simulations = args.num_simulations or (1000 if args.quick else 10_000)
    args.observations = args.observations or ([1] if args.quick else [1, 2, 3])
    args.posterior_samples = args.posterior_samples or (1000 if args.quick else 10_000)
    args.c2st_samples = min(args.c2st_samples or args.posterior_samples, args.posterior_samples)
    return args


def run_check(args: argparse.Namespace) -> dict:
    """Run every selected task/method/observation; write the report folder; return the results."""
    args.out.mkdir(parents=True, exist_ok=True)
    units = [(t, m) for t in args.tasks for m in METHODS[t] if args.methods is None or m in args.methods]
    if not units:
        raise SystemExit(f"no method of {args.methods} belongs to the tasks {args.tasks}")
    t_start = time.perf_counter()
    if args.jobs > 1:
        import concurrent.futures as cf
        import multiprocessing as mp

        with cf.ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) as pool:
            done = list(pool.map(_run_unit, [(t, m, args) for t, m in units]))
    else:
        done = [_run_unit((t, m, args)) for t, m in units]
    results = {"settings": _settings(args), "runs": {}}
    for (task, method), run in zip(units, done):
        results["runs"].setdefault(task, {})[method] = run
    results["total_seconds"] = time.perf_counter() - t_start
    write_outputs(results, args)
    return results


def _run_unit(unit) -> dict:
    """Train (sbi methods) and evaluate one method on one task at every selected observation.

    Keys depend only on (seed, task, method, observation), so any subset or order of units
    (``--tasks``, ``--methods``, ``--jobs``) reproduces the numbers of the full run.
    """
    task, method, args = unit
    import jax
    import torch

    from crinfer.inference import sbibm_tasks as tasks
    from crinfer.inference.numpyro_runner import run_nuts
    from crinfer.inference.results import posterior_matrix
    from crinfer.inference.sbi_runner import sample_posterior, train_sbi

    torch.set_num_threads(1)
    out: Path = args.out
    progress = not args.no_progress
    key = _unit_key(args.seed, task, method)
    sim = tasks.sbibm_simulator(task)
    names = list(sim.params.names)
    run = {"observations": {}, "train_seconds": 0.0}
    _log(f"[{task}/{method}]")
    if method != "NUTS":
        t0 = time.perf_counter()
        fit = train_sbi(sim, method=method, num_simulations=args.num_simulations, key=key,
                        density_estimator=_estimators(args)[method], estimator_kwargs=_estimator_kwargs(args),
                        training_kwargs=_training_kwargs(args), mcmc_parameters=_mcmc_parameters(args),
                        ensemble_size=args.ensemble_size, show_progress=progress)
        run["train_seconds"] = time.perf_counter() - t0
        run["epochs"] = fit.info["per_round"][0]["epochs"]
        run["invalid_simulations"] = fit.info["per_round"][0]["invalid"]
    for obs in args.observations:
        okey = jax.random.fold_in(key, 1000 + obs)
        x_obs = tasks.observation(task, obs)
        t0 = time.perf_counter()
        if method == "NUTS":
            chains = 4
            idata = run_nuts(tasks.sbibm_exact_likelihood(task), x_obs, key=okey, num_warmup=args.nuts_warmup,
                             num_samples=-(-args.posterior_samples // chains), num_chains=chains,
                             progress_bar=progress)
        else:
            idata = sample_posterior(fit.posterior, sim.params, x_obs, key=okey,
                                     num_samples=args.posterior_samples, show_progress=progress,
                                     method=method, attrs={"task": task, "num_observation": obs,
                                                           "num_simulations": args.num_simulations})
        t_sample = time.perf_counter() - t0
        idata.to_netcdf(str(out / f"{task}_{method}_obs{obs}.nc"))
        run["observations"][obs] = {**_score(task, method, obs, posterior_matrix(idata, names), okey, args),
                                    "sample_seconds": t_sample}
    _set_means(run)
    return run


def _score(task: str, method: str, obs: int, ours: np.ndarray, okey, args) -> dict:
    """C2ST of our samples against sbibm's reference with both classifiers; writes the corner plot.

    ``c2st``: sbibm's own classifier, the metric of the published figures; ``c2st_sbi``: sbi
    0.27's default (early stopping): higher on gaussian_linear, lower on slcp (docs/sbibm.md)."""
    import jax

    from crinfer.core.rng import numpy_rng
    from crinfer.inference import sbibm_tasks as tasks
    from crinfer.inference.c2st import c2st
    from crinfer.inference.plots import corner_plot

    ref = tasks.reference_samples(task, obs)
    rng = numpy_rng(jax.random.fold_in(okey, 1))
    n = min(args.c2st_samples, len(ours), len(ref))
    a = ref[rng.permutation(len(ref))[:n]]
    b = ours[rng.permutation(len(ours))[:n]]
    t0 = time.perf_counter()
    score = c2st(a, b, seed=1, classifier="sbibm")
    score_sbi = c2st(a, b, seed=1, classifier="mlp")
    t_c2st = time.perf_counter() - t0
    stem = f"{task}_{method}_obs{obs}"
    corner_plot([a, b], list(tasks.sbibm_simulator(task).params.names), labels=["sbibm reference", f"crinfer {method}"],
                colors=["0.3", "tab:red"], path=args.out / f"{stem}.png",
                title=f"{task} obs {obs}: {method} (C2ST {score:.3f}; sbi's classifier {score_sbi:.3f})")
    _log(f"  {task}/{method} obs {obs}: C2ST {score:.3f} (sbi's classifier {score_sbi:.3f}; {t_c2st:.0f} s)")
    return {"c2st": score, "c2st_sbi": score_sbi, "c2st_samples": n, "c2st_seconds": t_c2st}


def _set_means(run: dict) -> None:
    obs = run["observations"].values()
    run["mean_c2st"] = float(np.mean([o["c2st"] for o in obs]))
    run["mean_c2st_sbi"] = float(np.mean([o["c2st_sbi"] for o in obs]))


def _unit_key(seed: int, task: str, method: str):
    import jax

    ti, mi = list(METHODS).index(task), METHODS[task].index(method)
    return jax.random.fold_in(jax.random.PRNGKey(seed), 10 * ti + mi)


def _comparable(settings: dict) -> dict:
    """Settings that must agree between merged parts (not the command or the observations)."""
    return {k: v for k, v in settings.items() if k not in ("command", "observations", "rescored_from")}


def write_outputs(results: dict, args) -> None:
    """``summary.json``, ``results.json`` and ``report.md`` in ``args.out``."""
    summary = {t: {m: r["mean_c2st"] for m, r in ms.items()} for t, ms in results["runs"].items()}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (args.out / "report.md").write_text(render_report(results, args))


def merge(parts: list[Path], args) -> dict:
    """Combine the results.json of partial runs (e.g. one per task, run on several machines)."""
    import shutil

    args.out.mkdir(parents=True, exist_ok=True)
    merged = {"settings": None, "runs": {}, "total_seconds": 0.0, "parts": [str(p) for p in parts]}
    for part in parts:
        res = json.loads((part / "results.json").read_text())
        if "c2st_classifiers" not in res["settings"]:
            raise SystemExit(f"{part}: C2ST from before the two classifiers; rescore it first (--rescore {part})")
        if merged["settings"] is None:
            merged["settings"] = dict(res["settings"])
        elif _comparable(res["settings"]) != _comparable(merged["settings"]):
            raise SystemExit(f"{part}: settings differ from the first part; refusing to merge")
        merged["total_seconds"] += res["total_seconds"]
        for task, runs in res["runs"].items():
            for method, run in runs.items():
                run["observations"] = {int(o): v for o, v in run["observations"].items()}
                have = merged["runs"].setdefault(task, {}).setdefault(method, {"observations": {}, "train_seconds": 0.0})
                have["train_seconds"] = max(have["train_seconds"], run["train_seconds"])
                have["observations"].update(run["observations"])
        if part.resolve() != args.out.resolve():
            for f in list(part.glob("*.png")) + list(part.glob("*.nc")):
                shutil.copy2(f, args.out / f.name)
    for runs in merged["runs"].values():
        for run in runs.values():
            _set_means(run)
    merged["settings"]["command"] = "python experiments/sbibm_check.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    args.observations = sorted({o for runs in merged["runs"].values() for r in runs.values() for o in r["observations"]})
    merged["settings"]["observations"] = args.observations
    args.num_simulations = merged["settings"]["num_simulations"]
    write_outputs(merged, args)
    return merged


def rescore(source: Path, args) -> dict:
    """C2ST again, with both classifiers, from ``source``'s NetCDF samples; timings of training and
    sampling carried over. The subsamples are those of the original run (same seed and keys)."""
    import shutil

    import arviz as az
    import jax

    from crinfer.inference import sbibm_tasks as tasks
    from crinfer.inference.results import posterior_matrix

    if source.resolve() == args.out.resolve():
        raise SystemExit(f"--rescore {source}: --out must be another folder (the original results are kept)")
    old = json.loads((source / "results.json").read_text())
    settings = dict(old["settings"])
    args.out.mkdir(parents=True, exist_ok=True)
    args.c2st_samples, args.seed = settings["c2st_samples"], settings["seed"]
    args.num_simulations, args.observations = settings["num_simulations"], settings["observations"]
    t_start = time.perf_counter()
    runs = {}
    for task, methods in old["runs"].items():
        names = list(tasks.sbibm_simulator(task).params.names)
        for method, run in methods.items():
            if task not in args.tasks or (args.methods is not None and method not in args.methods):
                continue
            key = _unit_key(args.seed, task, method)
            new = {k: v for k, v in run.items() if not k.startswith("mean_c2st")}
            new["observations"] = {}
            for o, entry in run["observations"].items():
                obs = int(o)
                nc = source / f"{task}_{method}_obs{obs}.nc"
                ours = posterior_matrix(az.from_netcdf(str(nc)), names)
                new["observations"][obs] = {**_score(task, method, obs, ours, jax.random.fold_in(key, 1000 + obs), args),
                                            "sample_seconds": entry["sample_seconds"]}
                if nc.parent.resolve() != args.out.resolve():
                    shutil.copy2(nc, args.out / nc.name)
            _set_means(new)
            runs.setdefault(task, {})[method] = new
    settings["c2st_classifiers"] = C2ST_CLASSIFIERS
    settings["rescored_from"] = {"folder": str(source), "command": settings["command"]}
    settings["command"] = "python experiments/sbibm_check.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    results = {"settings": settings, "runs": runs,
               "total_seconds": old["total_seconds"], "rescore_seconds": time.perf_counter() - t_start}
    write_outputs(results, args)
    return results


def render_report(results: dict, args) -> str:
    """Markdown report: C2ST per observation, ours vs published, settings, timings."""
    n = args.num_simulations
    lines = [
        "# sbibm check: crinfer vs sbibm reference posteriors", "",
        f"- date: {_dt.date.today().isoformat()}; machine: {args.machine}",
        f"- command: `{results['settings']['command']}`",
        f"- total wall time: {results['total_seconds'] / 60:.1f} min", "",
        "C2ST with sbibm's own classifier (the metric of the published figures: an MLP, 5-fold, no early "
        "stopping); 0.5 = indistinguishable from the reference. Last column: the mean with sbi 0.27's default "
        "classifier (early stopping), not the published metric.",
        f"Published: single-round sbibm results at the same budget, {PUBLISHED_SOURCE}.", "",
        "| task | method | " + " | ".join(f"obs {o}" for o in args.observations)
        + " | mean | published, obs 1-10 | published, obs 1-3 | verdict | mean, sbi's classifier |",
        "|---|---|" + "---|" * len(args.observations) + "---|---|---|---|---|",
    ]
    for task, runs in results["runs"].items():
        for method, run in runs.items():
            per_obs = " | ".join(_fmt(run["observations"].get(o, {}).get("c2st")) for o in args.observations)
            pub = PUBLISHED.get(task, {}).get(method, {}).get(n)
            pub3 = PUBLISHED_OBS123.get(task, {}).get(method, {}).get(n)
            verdict = _verdict(method, run["mean_c2st"], pub)
            lines.append(f"| {task} | {method} | {per_obs} | {run['mean_c2st']:.3f} | "
                         f"{_fmt(pub)} | {_fmt(pub3)} | {verdict} | {_fmt(run.get('mean_c2st_sbi'))} |")
    lines += ["", "NUTS passes at C2ST <= 0.55; NPE/NLE/NRE pass at or below the published figure "
              "(mean of 10 observations) at the same simulation budget. Published values exist only for "
              "1,000 / 10,000 / 100,000 simulations (`-` otherwise).", "", "## Settings", ""]
    lines += [f"- {k}: {v}" for k, v in results["settings"].items() if k != "command"]
    lines += ["", "## Timings (seconds)", "", "| task | method | training | sampling (per obs) | C2ST (per obs) |",
              "|---|---|---|---|---|"]
    for task, runs in results["runs"].items():
        for method, run in runs.items():
            obs = run["observations"].values()
            lines.append(f"| {task} | {method} | {run['train_seconds']:.0f} | "
                         f"{np.mean([o['sample_seconds'] for o in obs]):.0f} | "
                         f"{np.mean([o['c2st_seconds'] for o in obs]):.0f} |")
    lines += ["", "## Corner plots (reference vs ours)", ""]
    for task, runs in results["runs"].items():
        for method, run in runs.items():
            for o in sorted(run["observations"]):
                stem = f"{task}_{method}_obs{o}"
                lines.append(f"![{stem}]({stem}.png)")
    return "\n".join(lines) + "\n"


def _training_kwargs(args) -> dict:
    kwargs = {} if args.max_epochs is None else {"max_num_epochs": args.max_epochs}
    if args.training_batch_size is not None:
        kwargs["training_batch_size"] = min(args.training_batch_size, args.num_simulations)
    return kwargs


def _mcmc_parameters(args) -> dict:
    # sbibm's NLE/NRE sampler settings (thin 10, warmup 100, SIR initialisation).
    return {"num_chains": args.mcmc_chains, "thin": 10, "warmup_steps": 100, "init_strategy": "sir",
            "init_strategy_parameters": {"num_candidate_samples": 10_000}}


def _estimator_kwargs(args) -> dict:
    return {"hidden_features": 50, **({"dropout_probability": args.dropout} if args.dropout else {})}


def _estimators(args) -> dict:
    return {**ESTIMATOR, "NPE": args.npe_estimator}


def _settings(args) -> dict:
    return {
        "command": "python experiments/sbibm_check.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "num_simulations": args.num_simulations, "observations": args.observations,
        "posterior_samples": args.posterior_samples, "c2st_samples": args.c2st_samples,
        "estimators": _estimators(args), "hidden_features": 50, "dropout": args.dropout, "ensemble_size": args.ensemble_size,
        "training": (f"batch {_training_kwargs(args)['training_batch_size']}" if args.training_batch_size
                     else "sbi's default batch 200") + ", lr 5e-4, stop after 20 epochs without improvement"
                    + (f", max {args.max_epochs} epochs" if args.max_epochs else ""),
        "nle_nre_mcmc": {"method": "slice_np_vectorized", **_mcmc_parameters(args)},
        "nuts": f"4 chains, {args.nuts_warmup} warmup, exact Gaussian likelihood",
        "c2st_classifiers": C2ST_CLASSIFIERS, "seed": args.seed,
    }


def _verdict(method: str, value: float, published) -> str:
    if method == "NUTS":
        return "pass" if value <= NUTS_THRESHOLD else "FAIL"
    if published is None:
        return "-"
    return "pass" if value <= published else "above published"


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def _log(msg: str) -> None:
    print(msg, flush=True)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.merge:
        results = merge(args.merge, args)
    elif args.rescore:
        results = rescore(args.rescore, args)
    else:
        results = run_check(args)
    _log(json.dumps({t: {m: round(r["mean_c2st"], 3) for m, r in ms.items()}
                     for t, ms in results["runs"].items()}))
    return results


if __name__ == "__main__":
    main()
