"""Steady-state cosmic-ray transport in an axisymmetric halo (crinfer issue 3).

Finite volumes on a node-centred (r, z) x log-energy grid, solved directly (no pseudo-time
stepping): see :mod:`.solver` for the method, ``docs/transport.md`` for the validation.
"""
from .config import TransportConfig
from .grid import TransportGrid
from .problem import SpeciesProblem
from .result import TransportResult
from .simulator import TransportSimulator
from .solver import residual, solve

__all__ = ["SpeciesProblem", "TransportConfig", "TransportGrid", "TransportResult", "TransportSimulator",
           "residual", "solve"]
