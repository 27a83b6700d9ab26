"""Where chunks are computed: in this process, or on a Dask cluster.

An executor maps :func:`simulate_chunk` over :class:`ChunkTask` objects and yields the
:class:`ChunkResult` of each as it completes, in any order. Workers only compute; the
calling process writes every chunk to the store, so the store has a single writer and
workers need no shared file system.
"""
from __future__ import annotations

import os
import platform
import time
from collections import OrderedDict
from dataclasses import dataclass
from itertools import islice
from typing import Callable, Iterable, Iterator

import numpy as np

from ..core import CampaignError, ConfigurationError, ParameterSpace


@dataclass(frozen=True)
class SimulatorSpec:
    """How a worker builds the simulator: ``factory(params, **config)``.

    ``fingerprint`` (the recipe's) keys the per-process cache of built simulators.
    """

    fingerprint: str
    name: str
    factory: Callable
    params: dict
    config: dict


@dataclass(frozen=True)
class ChunkTask:
    """One chunk to simulate: ``theta`` ``(b, P)`` physical, ``key`` ``(2,)`` uint32 key data."""

    index: int
    spec: SimulatorSpec
    theta: np.ndarray
    key: np.ndarray


@dataclass(frozen=True)
class ChunkResult:
    """``x`` ``(b, *observable.shape)`` float64, with where and how long it took (s)."""

    index: int
    x: np.ndarray
    seconds: float
    host: str


_CACHE: "OrderedDict[str, object]" = OrderedDict()
_CACHE_SIZE = 2


def cache_simulator(fingerprint: str, simulator) -> None:
    """Put an already built simulator in this process's cache (saves a second build)."""
    _CACHE[fingerprint] = simulator
    _CACHE.move_to_end(fingerprint)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)


def _simulator(spec: SimulatorSpec):
    sim = _CACHE.get(spec.fingerprint)
    if sim is None:
        sim = spec.factory(ParameterSpace.from_dict(spec.params), **spec.config)
        cache_simulator(spec.fingerprint, sim)
    return sim


def simulate_chunk(task: ChunkTask) -> ChunkResult:
    """Run the simulator on one chunk and check the output's shape and finiteness."""
    import jax.numpy as jnp

    t0 = time.perf_counter()
    sim = _simulator(task.spec)
    x = np.asarray(sim.simulate(jnp.asarray(task.key, dtype=jnp.uint32), task.theta), dtype=np.float64)
    want = (len(task.theta), *sim.observable.shape)
    if x.shape != want:
        raise CampaignError(f"chunk {task.index}: simulator {task.spec.name!r} returned shape {x.shape}, "
                            f"expected {want}")
    bad = ~np.isfinite(x)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise CampaignError(f"chunk {task.index}: simulator {task.spec.name!r} returned a non-finite value "
                            f"in chunk row {row} (theta = {task.theta[row].tolist()})")
    return ChunkResult(task.index, x, time.perf_counter() - t0, f"{platform.node()}:{os.getpid()}")


class LocalExecutor:
    """Computes chunks one after the other in this process."""

    name = "local"

    def map_unordered(self, fn: Callable, tasks: Iterable) -> Iterator:
        for task in tasks:
            yield fn(task)

    def close(self) -> None:
        pass


class DaskExecutor:
    """Computes chunks on a ``dask.distributed`` cluster.

    Give one of: ``client`` (used as is, not closed), ``address`` (a scheduler, e.g.
    ``"tcp://host:8786"``), ``cluster`` (a ``LocalCluster`` or a dask-jobqueue cluster);
    with none, a ``LocalCluster`` of ``n_workers`` single-threaded processes is started and
    closed with the executor.

    A task that raises is retried ``retries`` times; a task whose worker dies is
    rescheduled by the scheduler (up to ``distributed.scheduler.allowed-failures`` times).
    At most ``max_in_flight`` chunks are submitted at once (default: twice the cluster's
    threads, at least 8), so results never pile up in memory.
    """

    name = "dask"

    def __init__(self, client=None, *, address: str | None = None, cluster=None,
                 n_workers: int | None = None, retries: int = 3, max_in_flight: int | None = None):
        if sum(x is not None for x in (client, address, cluster)) > 1:
            raise ConfigurationError("give at most one of client, address and cluster")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigurationError(f"retries must be a non-negative integer, got {retries!r}")
        if n_workers is not None and (not isinstance(n_workers, int) or n_workers < 1):
            raise ConfigurationError(f"n_workers must be a positive integer, got {n_workers!r}")
        from distributed import Client, LocalCluster

        self._owned = []
        if client is None:
            if address is None and cluster is None:
                cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True)
                self._owned.append(cluster)
            client = Client(address if address is not None else cluster)
            self._owned.insert(0, client)
        self.client = client
        self.retries = retries
        self.max_in_flight = max_in_flight

    def map_unordered(self, fn: Callable, tasks: Iterable) -> Iterator:
        from distributed import as_completed

        window = self.max_in_flight or max(8, 2 * sum(self.client.nthreads().values()))
        tasks = iter(tasks)
        pending: dict = {}
        done = as_completed()

        def submit(batch):
            for task in batch:
                fut = self.client.submit(fn, task, retries=self.retries, pure=False)
                pending[fut] = task.index
                done.add(fut)

        try:
            submit(islice(tasks, window))
            for fut in done:
                index = pending.pop(fut)
                try:
                    result = fut.result()
                except Exception as exc:
                    raise CampaignError(f"chunk {index} failed on the Dask cluster "
                                        f"(after {self.retries} retries): {exc!r}") from exc
                fut.release()
                submit(islice(tasks, 1))
                yield result
        finally:
            if pending:
                self.client.cancel(list(pending))

    def close(self) -> None:
        for obj in self._owned:
            obj.close()
        self._owned = []


def jobqueue_cluster(system: str, **kwargs):
    """A dask-jobqueue cluster, e.g. ``jobqueue_cluster("slurm", cores=8, memory="16GB")``.

    ``system`` is one of dask-jobqueue's ``<System>Cluster`` classes (slurm, pbs, sge,
    lsf, htcondor, moab, oar); scale it with ``cluster.scale(jobs=N)`` or ``.adapt(...)``.
    """
    try:
        import dask_jobqueue
    except ImportError as exc:
        raise CampaignError(
            "batch-system clusters need the 'dask-jobqueue' package: "
            "pip install dask-jobqueue (or pip install 'crinfer[cluster]')"
        ) from exc
    classes = {n[: -len("Cluster")].lower(): getattr(dask_jobqueue, n)
               for n in dir(dask_jobqueue) if n.endswith("Cluster") and n != "JobQueueCluster"}
    if system.lower() not in classes:
        raise ConfigurationError(f"unknown batch system {system!r}; dask-jobqueue has {sorted(classes)}")
    return classes[system.lower()](**kwargs)


def make_executor(executor="local", *, client=None, scheduler: str | None = None, cluster=None,
                  n_workers: int | None = None, retries: int = 3, max_in_flight: int | None = None):
    """An executor from its name (``"local"`` or ``"dask"``), or ``executor`` itself if it is one.

    The keyword options configure :class:`DaskExecutor` (``scheduler`` is its ``address``)
    and are refused with ``"local"``.
    """
    if not isinstance(executor, str):
        return executor
    dask_opts = {"client": client, "scheduler": scheduler, "cluster": cluster, "n_workers": n_workers}
    if executor == "local":
        given = sorted(k for k, v in dask_opts.items() if v is not None)
        if given:
            raise ConfigurationError(f"option(s) {given} need executor='dask', not 'local'")
        return LocalExecutor()
    if executor == "dask":
        return DaskExecutor(client, address=scheduler, cluster=cluster, n_workers=n_workers,
                            retries=retries, max_in_flight=max_in_flight)
    raise ConfigurationError(f"unknown executor {executor!r}; use 'local' or 'dask'")
