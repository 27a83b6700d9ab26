"""Simulator names a recipe may use, mapped to factories.

A factory is called as ``factory(params, **config)`` with the recipe's
:class:`~crinfer.core.ParameterSpace` and its ``[simulator.config]`` table, and returns a
:class:`~crinfer.core.Simulator`. Built-in simulators are registered as import paths and
imported only when used. A recipe may also name any importable factory directly as
``"package.module:attribute"``, which is what Dask workers on other machines can resolve.
"""
from __future__ import annotations

import importlib
import inspect
from typing import Callable

from ..core import ConfigurationError

_REGISTRY: dict[str, Callable | str] = {
    "toy.gaussian": "crinfer.simulators.toy:GaussianToy",
    "cre.electrons": "crinfer.simulators.cre.simulator:from_recipe",
}


def register_simulator(name: str, factory: Callable | str, *, overwrite: bool = False) -> None:
    """Make ``name`` usable in recipes.

    Args:
        name: the recipe's ``simulator.name``, e.g. ``"transport.galprop_like"``.
        factory: a callable ``(params, **config) -> Simulator`` or an import path
            ``"module:attribute"`` resolved on first use.
        overwrite: replace an existing registration instead of raising.
    """
    if not isinstance(name, str) or not name or ":" in name:
        raise ConfigurationError(f"simulator name must be a non-empty string without ':', got {name!r}")
    if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
        raise ConfigurationError(
            f"factory for {name!r} must be callable or a 'module:attribute' path, got {factory!r}"
        )
    if name in _REGISTRY and not overwrite:
        raise ConfigurationError(f"simulator {name!r} is already registered (pass overwrite=True)")
    _REGISTRY[name] = factory


def registered_simulators() -> list[str]:
    """Sorted names usable in recipes."""
    return sorted(_REGISTRY)


def is_known(name: str) -> bool:
    """``True`` for a registered name or a ``module:attribute`` path."""
    return name in _REGISTRY or (isinstance(name, str) and ":" in name)


def resolve(name: str) -> Callable:
    """The factory for ``name``; a :class:`ConfigurationError` naming it when unknown."""
    target = _REGISTRY.get(name, name if ":" in str(name) else None)
    if target is None:
        raise ConfigurationError(
            f"unknown simulator {name!r}; registered: {registered_simulators()} "
            "(or give an importable factory as 'module:attribute')"
        )
    if callable(target):
        return target
    module, _, attr = target.partition(":")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"simulator {name!r}: cannot import {target!r}: {exc}") from exc
    if not callable(factory):
        raise ConfigurationError(f"simulator {name!r}: {target!r} is not callable")
    return factory


def build_simulator(name: str, params, config: dict):
    """Call the factory of ``name`` with ``params`` and ``config``, checking the config keys first."""
    factory = resolve(name)
    try:
        inspect.signature(factory).bind(params, **config)
    except TypeError as exc:
        raise ConfigurationError(
            f"simulator {name!r} does not accept config {sorted(config)}: {exc}; "
            f"its signature is {inspect.signature(factory)}"
        ) from None
    except ValueError:  # no signature available (builtins); let the call itself check
        pass
    return factory(params, **config)
