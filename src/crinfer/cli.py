"""The ``crinfer`` command: a thin layer over the library."""
from __future__ import annotations

import importlib
import platform
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Bayesian inference for cosmic-ray physics.", no_args_is_help=True,
                  add_completion=False)
console = Console()

# Sub-commands that live beside the code they drive.
_SUBAPPS = {
    "campaign": ("crinfer.campaign.cli", "campaign_app", "Simulation campaigns: run and inspect."),
    "transport": ("crinfer.simulators.transport.cli", "transport_app", "Steady-state transport solver."),
}
for _name, (_module, _attr, _help) in _SUBAPPS.items():
    try:
        app.add_typer(getattr(importlib.import_module(_module), _attr), name=_name, help=_help)
    except ImportError:  # pragma: no cover - sub-package not installed in this build
        pass

_VERSIONED = ["crinfer", "jax", "jaxlib", "numpyro", "torch", "sbi", "nflows", "arviz", "numpy",
              "scipy", "zarr", "dask", "distributed", "matplotlib"]


@app.command()
def info() -> None:
    """Versions of crinfer and its backends, and the devices JAX and torch see."""
    from importlib.metadata import PackageNotFoundError, version

    import jax
    import torch

    table = Table(title="crinfer environment")
    table.add_column("component")
    table.add_column("version / value")
    table.add_row("python", platform.python_version())
    for pkg in _VERSIONED:
        try:
            table.add_row(pkg, version(pkg))
        except PackageNotFoundError:
            table.add_row(pkg, "not installed")
    table.add_row("jax devices", ", ".join(str(d) for d in jax.devices()))
    table.add_row("jax x64", str(jax.config.read("jax_enable_x64")))
    cuda = torch.cuda.is_available()
    table.add_row("torch devices", "cpu" + (f", cuda x{torch.cuda.device_count()}" if cuda else ""))
    table.add_row("torch threads", str(torch.get_num_threads()))
    console.print(table)


@app.command()
def compare(
    posteriors: list[Path] = typer.Argument(..., help="InferenceData NetCDF files (two or more)."),
    out: Path = typer.Option(Path("comparison"), help="Report folder."),
    labels: list[str] = typer.Option(None, "--label", help="Label per file (default: file stem)."),
) -> None:
    """Compare posteriors: a table and overlaid corner plots."""
    import arviz as az

    from .inference.compare import compare_report

    if len(posteriors) < 2:
        raise typer.BadParameter(f"compare needs two or more posteriors, got {len(posteriors)}")
    missing = [str(p) for p in posteriors if not p.exists()]
    if missing:
        raise typer.BadParameter(f"no such file(s): {missing}")
    names = labels or [p.stem for p in posteriors]
    if len(names) != len(posteriors):
        raise typer.BadParameter(f"{len(names)} labels for {len(posteriors)} posteriors")
    idatas = {n: az.from_netcdf(p) for n, p in zip(names, posteriors)}
    report = compare_report(idatas, out)
    console.print(f"wrote {report}")


@app.command()
def fit(
    task: str = typer.Argument(..., help="sbibm task: gaussian_linear, two_moons, slcp."),
    method: str = typer.Option("NPE", help="NUTS (exact likelihood tasks), NPE, NLE or NRE."),
    observation: int = typer.Option(1, help="sbibm observation number (1-10)."),
    num_simulations: int = typer.Option(2000, help="Simulation budget for sbi methods."),
    num_samples: int = typer.Option(1000, help="Posterior samples."),
    seed: int = typer.Option(0, help="Random seed."),
    out: Path = typer.Option(Path("fit"), help="Output folder (posterior.nc, corner.png)."),
) -> None:
    """Fit a benchmark task with NUTS or sbi and write the posterior (NetCDF) and a corner plot."""
    from .inference.fit_task import fit_sbibm_task

    path = fit_sbibm_task(task, method=method, observation=observation,
                          num_simulations=num_simulations, num_samples=num_samples, seed=seed, out=out)
    console.print(f"wrote {path}")


if __name__ == "__main__":  # pragma: no cover
    app()
