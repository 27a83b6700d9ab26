"""Simulation campaigns: recipes, chunked resumable stores, local and Dask executors."""
from .executors import DaskExecutor, LocalExecutor, jobqueue_cluster
from .recipe import Design, Recipe, load_recipe
from .registry import register_simulator, registered_simulators
from .runner import campaign_status, chunk_key, load_dataset, run_campaign
from .store import CampaignStatus, Store

__all__ = [
    "CampaignStatus", "DaskExecutor", "Design", "LocalExecutor", "Recipe", "Store", "campaign_status",
    "chunk_key", "jobqueue_cluster", "load_dataset", "load_recipe", "register_simulator",
    "registered_simulators", "run_campaign",
]
