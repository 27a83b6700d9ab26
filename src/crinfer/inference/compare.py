"""Side-by-side comparison of posteriors held as ArviZ InferenceData.

One table (per method and parameter: mean, sd, 5/50/95% quantiles, R-hat and bulk ESS),
optional C2ST of each method against a reference, and an overlaid corner plot.

Coordinates: table and corner plot in physical units (as stored, units from the variables'
``unit`` attribute); C2ST in internal coordinates (log10 of variables whose ``scale``
attribute is ``"log"``), where the classifier's z-scoring is meaningful.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jax
import numpy as np

from ..core.errors import ConfigurationError, ParameterError
from ..core.rng import as_key, key_to_seed, numpy_rng
from .c2st import c2st
from .plots import axis_label, corner_plot
from .results import posterior_matrix

__all__ = ["Comparison", "compare", "compare_report"]

_COLUMNS = ("method", "parameter", "unit", "mean", "sd", "q05", "q50", "q95", "r_hat", "ess_bulk")


@dataclass
class Comparison:
    """Result of :func:`compare`.

    Attributes:
        rows: one dict per (method, parameter) with the keys of ``_COLUMNS``.
        c2st: method label -> C2ST accuracy against ``reference`` (empty when not computed).
        reference: label of the reference method, or None.
        names, units, labels: compared parameters, their units, the method labels.
        samples: label -> ``(n, P)`` physical samples, columns in ``names`` order.
    """

    rows: list[dict]
    c2st: dict[str, float]
    reference: str | None
    names: tuple[str, ...]
    units: tuple[str, ...]
    labels: tuple[str, ...]
    samples: dict[str, np.ndarray] = field(repr=False)

    @property
    def table(self):
        """A pandas DataFrame of ``rows`` when pandas is installed, else the list of dicts."""
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - pandas is present on the reference machines
            return self.rows
        return pd.DataFrame(self.rows, columns=list(_COLUMNS))

    def markdown(self) -> str:
        """The table (and the C2ST column, if computed) as GitHub markdown."""
        out = _markdown(self.rows, _COLUMNS)
        if self.c2st:
            out += f"\n\nC2ST against `{self.reference}` (0.5: indistinguishable, 1: disjoint):\n\n"
            out += _markdown([{"method": k, "c2st": v} for k, v in self.c2st.items()], ("method", "c2st"))
        return out

    def corner(self, path=None, truths=None, title: str | None = None):
        """Overlaid corner plot of all methods; ``truths`` a mapping or sequence over ``names``."""
        return corner_plot([self.samples[k] for k in self.labels], self.names, units=self.units,
                           labels=list(self.labels), truths=_truth_list(truths, self.names),
                           path=path, title=title)


def compare(*idatas, names=None, reference=None, c2st_samples: int = 1000, key=0,
            truths=None, plot_path=None) -> Comparison:
    """Compare two or more posteriors.

    Args:
        *idatas: InferenceData objects (labelled by their posterior ``method`` attribute), or
            one dict label -> InferenceData.
        names: parameters to compare; default, those present in every set (first set's order).
        reference: label or index of the reference posterior; C2ST of every other set against
            it is computed only when given (sbibm's MLP classifier, slow: ~45 s for 2000 vs
            2000 on one CPU core).
        c2st_samples: samples drawn per set (without replacement) for C2ST.
        key: JAX key or int seed for the C2ST subsamples and classifier.
        truths: optional true values (mapping name -> value or sequence) for the plot.
        plot_path: where to write the overlaid corner plot (PNG); none written if None.
    """
    sets = _labelled(idatas)
    labels = tuple(sets)
    names = _common_names(sets, names)
    units = _units(sets, names)
    samples = {k: posterior_matrix(v, names) for k, v in sets.items()}
    rows = [row for k in labels for row in _rows(k, sets[k], names, units)]

    ref_label, scores = None, {}
    if reference is not None:
        ref_label = _resolve_reference(reference, labels)
        scores = _c2st_scores(sets, samples, names, ref_label, c2st_samples, key)
    result = Comparison(rows=rows, c2st=scores, reference=ref_label, names=tuple(names),
                        units=tuple(units), labels=labels, samples=samples)
    if plot_path is not None:
        result.corner(plot_path, truths=truths)
    return result


def compare_report(idatas, out_dir, *, title: str = "Posterior comparison", **kwargs) -> Path:
    """Write ``out_dir/comparison.md`` and ``out_dir/corner.png``; return the markdown path.

    ``idatas`` is a dict label -> InferenceData or a sequence of InferenceData; ``kwargs``
    go to :func:`compare` (``names``, ``reference``, ``c2st_samples``, ``key``, ``truths``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    args = (idatas,) if isinstance(idatas, dict) else tuple(idatas)
    result = compare(*args, plot_path=out / "corner.png", **kwargs)
    units = ", ".join(axis_label(n, u) for n, u in zip(result.names, result.units))
    text = (f"# {title}\n\nMethods: {', '.join(result.labels)}. Parameters: {units}.\n\n"
            f"{result.markdown()}\n\n![corner plot](corner.png)\n")
    path = out / "comparison.md"
    path.write_text(text)
    return path


# -- helpers ------------------------------------------------------------------------------

def _labelled(idatas) -> dict:
    if len(idatas) == 1 and isinstance(idatas[0], dict):
        sets = {str(k): v for k, v in idatas[0].items()}
    else:
        sets = {}
        for i, idata in enumerate(idatas):
            attrs = idata.posterior.attrs if hasattr(idata, "posterior") else {}
            base = str(attrs.get("method") or f"set{i + 1}")
            label, n = base, 2
            while label in sets:
                label, n = f"{base}#{n}", n + 1
            sets[label] = idata
    if len(sets) < 2:
        raise ConfigurationError(f"compare needs at least two posteriors, got {len(sets)}")
    for k, v in sets.items():
        if not hasattr(v, "posterior"):
            raise ConfigurationError(f"{k!r} is a {type(v).__name__}, not an InferenceData with a posterior")
    return sets


def _common_names(sets: dict, names) -> list[str]:
    if names is None:
        first = list(next(iter(sets.values())).posterior.data_vars)
        names = [n for n in first if all(n in v.posterior.data_vars for v in sets.values())]
        if not names:
            raise ParameterError("the posteriors share no parameter")
        return names
    names = list(names)
    for k, v in sets.items():
        missing = [n for n in names if n not in v.posterior.data_vars]
        if missing:
            raise ParameterError(f"posterior {k!r} has no parameter(s) {missing}; it has {list(v.posterior.data_vars)}")
    return names


def _units(sets: dict, names) -> list[str]:
    units = []
    for n in names:
        found = {k: v.posterior[n].attrs.get("unit", "") for k, v in sets.items()}
        if len(set(found.values())) > 1:
            raise ConfigurationError(f"parameter {n!r} has different units across posteriors: {found}")
        units.append(next(iter(found.values())))
    return units


def _rows(label: str, idata, names, units) -> list[dict]:
    import arviz as az

    rows = []
    for n, u in zip(names, units):
        arr = np.asarray(idata.posterior[n].values, dtype=float)  # (chain, draw)
        flat = arr.reshape(-1)
        q05, q50, q95 = np.quantile(flat, [0.05, 0.5, 0.95])
        multi = arr.shape[0] >= 2 and arr.shape[1] >= 4
        rows.append({
            "method": label, "parameter": n, "unit": u,
            "mean": float(flat.mean()), "sd": float(flat.std(ddof=1)),
            "q05": float(q05), "q50": float(q50), "q95": float(q95),
            "r_hat": float(az.rhat(arr)) if multi else float("nan"),
            "ess_bulk": float(az.ess(arr, method="bulk")) if arr.shape[1] >= 4 else float("nan"),
        })
    return rows


def _resolve_reference(reference, labels) -> str:
    if isinstance(reference, (int, np.integer)) and not isinstance(reference, bool):
        if not 0 <= reference < len(labels):
            raise ConfigurationError(f"reference index {reference} out of range for {len(labels)} posteriors")
        return labels[reference]
    if reference not in labels:
        raise ConfigurationError(f"reference {reference!r} is not one of the methods {list(labels)}")
    return reference


def _c2st_scores(sets, samples, names, ref, n, key) -> dict[str, float]:
    if not isinstance(n, (int, np.integer)) or n < 10:
        raise ConfigurationError(f"c2st_samples must be an integer >= 10, got {n!r}")
    log = np.array([sets[ref].posterior[m].attrs.get("scale") == "log" for m in names])
    keys = jax.random.split(as_key(key), len(samples) + 1)
    seed = key_to_seed(keys[-1]) % (2**32)

    def draw(label, k):
        s = samples[label]
        s = s[numpy_rng(k).permutation(len(s))[: min(n, len(s))]]
        return np.where(log, np.log10(np.where(log, s, 1.0)), s)

    ref_s = draw(ref, keys[0])
    return {label: c2st(ref_s, draw(label, keys[i + 1]), seed=seed)
            for i, label in enumerate(samples) if label != ref}


def _truth_list(truths, names):
    if truths is None:
        return None
    if isinstance(truths, dict):
        unknown = sorted(set(truths) - set(names))
        if unknown:
            raise ParameterError(f"truths for unknown parameter(s) {unknown}; compared are {list(names)}")
        return [truths.get(n) for n in names]
    truths = list(truths)
    if len(truths) != len(names):
        raise ParameterError(f"truths has {len(truths)} values for {len(names)} parameters {list(names)}")
    return truths


def _markdown(rows, columns) -> str:
    def fmt(v):
        if isinstance(v, float):
            return "--" if np.isnan(v) else f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
