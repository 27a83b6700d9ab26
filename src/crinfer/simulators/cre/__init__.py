"""Stochastic cosmic-ray electrons from discrete sources (seed 003): Monte Carlo and expectation."""
from .simulator import PARAMETERS, SINGLE_POINT, CREConfig, CRESimulator, single_point_parameters

__all__ = ["PARAMETERS", "SINGLE_POINT", "CREConfig", "CRESimulator", "single_point_parameters"]
