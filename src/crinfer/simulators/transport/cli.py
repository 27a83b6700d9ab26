"""``crinfer transport``: solve a configured transport problem and write the solution and plots."""
from __future__ import annotations

import json
import time
from pathlib import Path

import typer

transport_app = typer.Typer(help="Steady-state cosmic-ray transport solver.", no_args_is_help=True,
                            add_completion=False)


@transport_app.command("solve")
def solve_command(
    config: Path = typer.Argument(..., help="TOML configuration (see simulators/transport_*.toml)."),
    out: Path = typer.Option(..., "--out", help="Output folder (created)."),
    fmt: str = typer.Option("nc", "--format", help="Solution file format: nc (NetCDF) or npz."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write PNG plots."),
) -> None:
    """Solve CONFIG; write solution.<fmt>, sun_spectra.csv, summary.json and plots to OUT."""
    import numpy as np

    from crinfer.core.errors import ConfigurationError

    from .config import TransportConfig
    from .solver import solve

    if fmt not in ("nc", "npz"):
        raise typer.BadParameter(f"format must be 'nc' or 'npz', got {fmt!r}")
    try:
        cfg = TransportConfig.from_toml(config)
        grid = cfg.build_grid()
        problems = cfg.build_problems(grid)
    except ConfigurationError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    t0, c0 = time.perf_counter(), time.process_time()
    result = solve(grid, problems, cfg.observer, **cfg.solver_options)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    out.mkdir(parents=True, exist_ok=True)
    path = result.save(out / f"solution.{fmt}")
    E = grid.energies
    cols = [E] + [result.sun_spectrum(n) for n in result.species]
    np.savetxt(out / "sun_spectra.csv", np.column_stack(cols), delimiter=",",
               header="E_GeV," + ",".join(f"psi_{n}" for n in result.species), comments="")
    summary = {"config": str(config), "grid": grid.describe(), "observer_kpc": cfg.observer,
               "solve_wall_s": wall, "solve_cpu_s": cpu, "info": result.info, "solution": path.name}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    if plots:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ax = result.plot_spectra()
        ax.figure.savefig(out / "spectra.png", dpi=120, bbox_inches="tight")
        plt.close(ax.figure)
        for name in result.species:
            for e in (E[0], E[E.size // 2], E[-1]):
                ax = result.plot_rz_map(name, e)
                ax.figure.savefig(out / f"rz_{name}_{e:.3g}GeV.png", dpi=110, bbox_inches="tight")
                plt.close(ax.figure)
    typer.echo(f"solved {grid.describe()} in {wall:.3g} s wall ({cpu:.3g} s CPU); wrote {out}")
