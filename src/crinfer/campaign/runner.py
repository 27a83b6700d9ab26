"""Run a campaign into a resumable store, report its status, load its dataset."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core import CampaignError, ConfigurationError
from . import registry
from .executors import ChunkTask, SimulatorSpec, cache_simulator, make_executor, simulate_chunk
from .recipe import Recipe, load_recipe
from .store import CampaignStatus, Store


def chunk_key(seed: int, index: int) -> np.ndarray:
    """Key data (uint32 ``(2,)``) of chunk ``index``: ``fold_in(PRNGKey(seed), index)``.

    Depends on nothing but the recipe seed and the chunk index, so a chunk recomputed
    after a crash, on any machine, is bit-identical.
    """
    import jax

    return np.asarray(jax.random.fold_in(jax.random.PRNGKey(seed), index), dtype=np.uint32)


def run_campaign(recipe: Recipe | str | Path, out: str | Path | None = None, executor="local", *,
                 client=None, scheduler: str | None = None, cluster=None, n_workers: int | None = None,
                 retries: int = 3, max_in_flight: int | None = None, progress: bool = True) -> CampaignStatus:
    """Simulate every chunk of ``recipe`` not yet in the store at ``out``.

    Args:
        recipe: a :class:`Recipe` or the path of its TOML file.
        out: store directory; defaults to the recipe's ``[store] path``.
        executor: ``"local"`` (this process), ``"dask"``, or an executor object.
        client, scheduler, cluster, n_workers, retries, max_in_flight: Dask options, see
            :class:`~crinfer.campaign.executors.DaskExecutor` (``scheduler`` is an address).
        progress: show a rich progress bar on stderr.

    Returns:
        The final :class:`CampaignStatus` (complete).

    Chunks already done and intact are skipped; missing and corrupt ones are (re)computed.
    """
    recipe = load_recipe(recipe)
    if out is None:
        if recipe.store is None:
            raise ConfigurationError("no output directory: pass out=... or set [store] path in the recipe")
        out = recipe.store
    simulator = registry.build_simulator(recipe.simulator, recipe.params, recipe.config)
    store = Store.create_or_open(out, recipe, simulator.observable)
    store.remove_temp_files()
    status = store.status()
    todo = status.todo
    if not todo:
        return status
    console = _console() if progress else None
    if console and (status.done or status.corrupt):
        msg = f"resuming {str(out)!r}: {len(status.done)}/{status.n_chunks} chunks done"
        if status.corrupt:
            msg += f", {len(status.corrupt)} corrupt to redo: {_head(sorted(status.corrupt))}"
        console.print(msg)

    spec = SimulatorSpec(recipe.fingerprint, recipe.simulator, registry.resolve(recipe.simulator),
                         recipe.params.to_dict(), recipe.config)
    cache_simulator(recipe.fingerprint, simulator)
    design = store.design()
    realisations = recipe.realisations

    def tasks():
        for i in todo:
            rows = np.arange(*store.chunk_rows(i))
            yield ChunkTask(i, spec, design[rows // realisations], chunk_key(recipe.seed, i))

    exe = make_executor(executor, client=client, scheduler=scheduler, cluster=cluster,
                        n_workers=n_workers, retries=retries, max_in_flight=max_in_flight)
    bar = _progress_bar(console, status.n_chunks, len(status.done))
    try:
        with bar:
            for result in exe.map_unordered(simulate_chunk, tasks()):
                rows = np.arange(*store.chunk_rows(result.index))
                key = chunk_key(recipe.seed, result.index)
                arrays = {"theta": design[rows // realisations], "x": result.x,
                          "key": np.broadcast_to(key, (len(rows), 2)), "row": rows,
                          "point": rows // realisations, "realisation": rows % realisations}
                store.write_chunk(result.index, arrays, {"compute_s": round(result.seconds, 6),
                                                         "host": result.host, "executor": exe.name})
                bar.advance()
    finally:
        exe.close()
    final = store.status()
    if not final.complete:  # only if the store was changed behind our back
        raise CampaignError(f"campaign {str(out)!r} incomplete after the run: missing {_head(final.missing)}, "
                            f"corrupt {final.corrupt}")
    return final


def campaign_status(out: str | Path) -> CampaignStatus:
    """Done/total chunks, rows and checksum problems of the store at ``out``."""
    return Store.open(out).status()


def load_dataset(out: str | Path, *, verify: bool = True, partial: bool = False):
    """``(theta, x, meta)`` of the store at ``out``.

    Args:
        verify: check every chunk's sha256 before reading it.
        partial: return the done chunks of an incomplete campaign instead of raising.

    Returns:
        ``theta`` ``(N, P)`` physical parameters, ``x`` ``(N, *observable.shape)`` float64,
        and ``meta``: the manifest's entries plus per-row ``key`` ``(N, 2)`` uint32 (the
        key of the chunk's ``simulate`` call), ``row``, ``point``, ``realisation`` and the
        per-chunk ``chunks`` records (sha256, timings, host).
    """
    store = Store.open(out)
    status = store.status(verify)
    if not status.complete and not partial:
        raise CampaignError(
            f"campaign {str(out)!r} is incomplete: {len(status.done)}/{status.n_chunks} chunks done, "
            f"missing {_head(status.missing)}, corrupt {status.corrupt}; resume it with run_campaign "
            "or pass partial=True"
        )
    parts, records = [], []
    for i in status.done:
        arrays, record = store.read_chunk(i, verify=False)  # checked by status() above
        parts.append(arrays)
        records.append(record)
    p = len(store.manifest["parameters"])
    shape = tuple(store.manifest["observable"]["shape"])

    def cat(name, empty_shape, dtype):
        return np.concatenate([a[name] for a in parts]) if parts else np.empty(empty_shape, dtype)

    meta = dict(store.manifest)
    meta.update(key=cat("key", (0, 2), np.uint32), row=cat("row", (0,), np.int64),
                point=cat("point", (0,), np.int64), realisation=cat("realisation", (0,), np.int64),
                chunks=records)
    return cat("theta", (0, p), np.float64), cat("x", (0, *shape), np.float64), meta


def _head(items, k: int = 8) -> str:
    items = list(items)
    return str(items[:k])[:-1] + (f", ... ({len(items)} in all)]" if len(items) > k else "]")


def _console():
    from rich.console import Console

    return Console(stderr=True)


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def advance(self):
        pass


class _RichBar:
    def __init__(self, console, total: int, done: int):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self._progress = Progress(TextColumn("campaign chunks"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TimeRemainingColumn(), console=console)
        self._task = self._progress.add_task("chunks", total=total, completed=done)

    def __enter__(self):
        self._progress.start()
        return self

    def __exit__(self, *exc):
        self._progress.stop()
        return False

    def advance(self):
        self._progress.advance(self._task)


def _progress_bar(console, total: int, done: int):
    return _RichBar(console, total, done) if console is not None else _NoBar()
