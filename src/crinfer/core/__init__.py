"""Core interface: parameters, Simulator/Likelihood protocols, errors, RNG, jax<->torch."""
from .bridge import jax_to_torch, torch_to_jax
from .errors import (
    CampaignError,
    ConfigurationError,
    CrinferError,
    DomainError,
    ObservationError,
    ParameterError,
    ShapeError,
)
from .likelihoods import GaussianLikelihood
from .parameters import Parameter, ParameterSpace
from .protocols import Likelihood, Observable, Simulator, check_batch
from .rng import as_key, key_to_seed, numpy_rng, torch_generator

__all__ = [
    "CampaignError", "ConfigurationError", "CrinferError", "DomainError", "GaussianLikelihood",
    "Likelihood", "Observable", "ObservationError", "Parameter", "ParameterError",
    "ParameterSpace", "ShapeError", "Simulator", "as_key", "check_batch", "jax_to_torch",
    "key_to_seed", "numpy_rng", "torch_generator", "torch_to_jax",
]
