"""``crinfer campaign``: run a recipe into a store, show a store's status."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

campaign_app = typer.Typer(help="Simulation campaigns: run recipes into resumable chunked stores.",
                           no_args_is_help=True)


class ExecutorName(str, Enum):
    local = "local"
    dask = "dask"


@campaign_app.command("run")
def run_cmd(
    recipe: Path = typer.Argument(..., help="recipe TOML file", exists=True, dir_okay=False),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="store directory (default: the recipe's [store] path)"),
    executor: ExecutorName = typer.Option(ExecutorName.local, help="where chunks are computed"),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address, e.g. tcp://host:8786"),
    n_workers: Optional[int] = typer.Option(None, "--n-workers", min=1, help="workers of a new Dask LocalCluster"),
    retries: int = typer.Option(3, min=0, help="Dask retries of a failed chunk"),
    progress: bool = typer.Option(True, help="show a progress bar"),
):
    """Simulate every chunk of RECIPE not yet in the store; resumes an interrupted run."""
    from ..core import CrinferError
    from .runner import run_campaign

    if executor is ExecutorName.local and (scheduler or n_workers):
        raise typer.BadParameter("--scheduler and --n-workers need --executor dask")
    try:
        st = run_campaign(recipe, out, executor.value, scheduler=scheduler, n_workers=n_workers,
                          retries=retries, progress=progress)
    except CrinferError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{st.path}: {len(st.done)}/{st.n_chunks} chunks, {st.rows_done} rows")


@campaign_app.command("status")
def status_cmd(store: Path = typer.Argument(..., help="store directory")):
    """Done/total chunks and checksum problems; exit status 1 if a chunk is corrupt."""
    from rich.console import Console
    from rich.table import Table

    from ..core import CrinferError
    from .runner import campaign_status

    try:
        st = campaign_status(store)
    except CrinferError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    table = Table(title=str(st.path), show_header=False)
    table.add_row("chunks done", f"{len(st.done)}/{st.n_chunks}")
    table.add_row("rows done", f"{st.rows_done}/{st.n_rows}")
    table.add_row("missing", _short(st.missing))
    table.add_row("corrupt", "\n".join(f"{i}: {why}" for i, why in sorted(st.corrupt.items())) or "none")
    table.add_row("temporary files", _short(st.temp_files))
    table.add_row("complete", "yes" if st.complete else "no")
    Console().print(table)
    if st.corrupt:
        raise typer.Exit(1)


def _short(items, k: int = 10) -> str:
    items = list(items)
    if not items:
        return "none"
    return ", ".join(map(str, items[:k])) + (f", ... ({len(items)} in all)" if len(items) > k else "")
