"""Exception types of crinfer.

Every message says what was wrong, the offending value and what is allowed.
"""
from __future__ import annotations


class CrinferError(Exception):
    """Base class of every error crinfer raises on purpose."""


class ParameterError(CrinferError, ValueError):
    """A parameter value, name or definition is invalid."""


class ObservationError(CrinferError, ValueError):
    """An observation is not finite or does not match the simulator's observable."""


class ShapeError(CrinferError, ValueError):
    """An array does not have the shape the batched contract requires."""


class ConfigurationError(CrinferError, ValueError):
    """A recipe, grid or physical configuration is invalid."""


class DomainError(CrinferError, ValueError):
    """An emulator was asked for a point outside its training domain."""


class CampaignError(CrinferError, RuntimeError):
    """A simulation campaign or its store is inconsistent."""
