"""Posterior plots: overlaid corner plots, SBC rank histograms, TARP coverage curves.

The corner plot and the TARP curve are drawn on a bare ``matplotlib.figure.Figure`` with
the Agg canvas (no pyplot, no GUI, no ``corner`` package). The SBC rank plot is sbi's
``sbc_rank_plot`` (pyplot-based; the figure is closed once written to ``path``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..core.errors import ShapeError

__all__ = ["corner_plot", "hpd_thresholds", "sbc_rank_plot", "tarp_plot", "axis_label"]


def axis_label(name: str, unit: str = "") -> str:
    """``"name [unit]"``, or ``"name"`` for a dimensionless parameter."""
    return f"{name} [{unit}]" if unit else name


def hpd_thresholds(density: np.ndarray, levels) -> np.ndarray:
    """Density values whose super-level sets hold fractions ``levels`` of the total mass.

    ``density`` is a histogram (any shape, non-negative); the region ``density >= t_k``
    is the highest-density region of credibility ``levels[k]``. Returned in the order of
    ``levels``.
    """
    flat = np.sort(np.asarray(density, dtype=float).ravel())[::-1]
    total = flat.sum()
    if not total > 0:
        raise ValueError("hpd_thresholds needs a density with positive total mass")
    cum = np.cumsum(flat) / total
    idx = np.searchsorted(cum, np.asarray(levels, dtype=float))
    return flat[np.clip(idx, 0, flat.size - 1)]


def corner_plot(samples, names, *, units=None, labels=None, truths=None, colors=None,
                bins: int = 40, levels=(0.68, 0.95), smooth: float = 1.0,
                path=None, title: str | None = None) -> Figure:
    """Corner plot of one or several ``(n, P)`` sample sets, overlaid.

    Diagonal: normalised 1-D histograms. Below it: contours of the 2-D histogram (Gaussian
    smoothed by ``smooth`` bins) at the highest-posterior-density ``levels`` (solid: first
    level, dashed: second, ...). ``units`` label the axes ``name [unit]``; ``labels`` name the
    sets in the legend; ``truths`` (length P, None entries skipped) are drawn as lines.
    Written to ``path`` (PNG by extension) when given.
    """
    sets = [np.asarray(s, dtype=float) for s in (samples if isinstance(samples, (list, tuple)) else [samples])]
    names = list(names)
    p = len(names)
    for k, s in enumerate(sets):
        if s.ndim != 2 or s.shape[1] != p or s.shape[0] < 2:
            raise ShapeError(f"sample set {k} must have shape (n >= 2, {p}) for {names}, got {s.shape}")
        if not np.isfinite(s).all():
            raise ValueError(f"sample set {k} contains NaN or inf")
    units = list(units) if units is not None else [""] * p
    labels = list(labels) if labels is not None else [f"set {k + 1}" for k in range(len(sets))]
    colors = list(colors) if colors is not None else [f"C{k}" for k in range(len(sets))]
    truths = list(truths) if truths is not None else [None] * p
    if not (len(units) == len(truths) == p and len(labels) == len(colors) == len(sets)):
        raise ShapeError(f"units/truths need {p} entries and labels/colors {len(sets)}")

    edges = [_edges([s[:, j] for s in sets], truths[j], bins) for j in range(p)]
    size = max(2.2 * p, 3.5)
    fig = Figure(figsize=(size, size))
    FigureCanvasAgg(fig)
    axes = fig.subplots(p, p, squeeze=False)
    styles = ["solid", "dashed", "dotted", "dashdot"]
    for i in range(p):
        for j in range(p):
            ax = axes[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            for s, c in zip(sets, colors):
                if i == j:
                    ax.hist(s[:, i], bins=edges[i], density=True, histtype="step", color=c, lw=1.4)
                else:
                    _contours(ax, s[:, j], s[:, i], edges[j], edges[i], levels, smooth, c,
                              [styles[k % len(styles)] for k in range(len(levels))])
            if truths[j] is not None:
                ax.axvline(truths[j], color="k", lw=0.8)
            if i != j and truths[i] is not None:
                ax.axhline(truths[i], color="k", lw=0.8)
            ax.set_xlim(edges[j][0], edges[j][-1])
            if i == j:
                ax.set_yticks([])
            else:
                ax.set_ylim(edges[i][0], edges[i][-1])
            if i == p - 1:
                ax.set_xlabel(axis_label(names[j], units[j]))
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(axis_label(names[i], units[i]))
            elif j > 0:
                ax.set_yticklabels([])
            ax.tick_params(labelsize=7)
    handles = [Line2D([], [], color=c, lw=1.6) for c in colors]
    handles += [Line2D([], [], color="0.3", ls=styles[k % len(styles)]) for k in range(len(levels))]
    legend_labels = labels + [f"{lv:.0%} HPD" for lv in levels]
    if any(t is not None for t in truths):
        handles.append(Line2D([], [], color="k", lw=0.8))
        legend_labels.append("truth")
    top = 1.0 - (0.45 if title else 0.22) / size    # ~0.45 inch for the title above the panels
    fig.legend(handles, legend_labels, loc="upper right", bbox_to_anchor=(0.97, top), fontsize=8,
               frameon=False)
    if title:
        fig.suptitle(title, fontsize=10, y=0.985)
    fig.subplots_adjust(left=0.12, bottom=0.12, right=0.97, top=top, wspace=0.06, hspace=0.06)
    if path is not None:
        fig.savefig(Path(path), dpi=120)
    return fig


def sbc_rank_plot(ranks, num_posterior_samples: int, *, names=None, plot_type: str = "hist",
                  path=None):
    """SBC rank histograms (``"hist"``) or empirical CDFs (``"cdf"``) via sbi's ``sbc_rank_plot``.

    ``ranks`` is ``(N, P)`` (or a list of such arrays, one per method). The grey band is
    the 99% range expected for uniform ranks. Returns the figure; closed once saved to ``path``.
    """
    import matplotlib.pyplot as plt
    from sbi.analysis import sbc_rank_plot as _sbi_sbc_rank_plot

    rank_list = [np.asarray(r) for r in (ranks if isinstance(ranks, list) else [ranks])]
    fig, _ = _sbi_sbc_rank_plot(rank_list, int(num_posterior_samples),
                                num_bins=max(rank_list[0].shape[0] // 20, 1), plot_type=plot_type,
                                parameter_labels=list(names) if names is not None else None)
    if path is not None:
        fig.savefig(Path(path), dpi=120, bbox_inches="tight")
        plt.close(fig)
    return fig


def tarp_plot(ecp, alpha, *, atc: float | None = None, label: str = "TARP", path=None) -> Figure:
    """TARP expected coverage probability against credibility level, with the diagonal.

    ``ecp``/``alpha`` may be lists (one curve per method, ``label`` then a list too).
    """
    ecps = ecp if isinstance(ecp, list) else [ecp]
    alphas = alpha if isinstance(alpha, list) else [alpha]
    names = label if isinstance(label, list) else [label]
    if atc is not None and len(ecps) == 1:
        names = [f"{names[0]} (ATC {atc:+.3f})"]
    fig = Figure(figsize=(4.5, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="k", ls="--", lw=1, label="calibrated")
    for k, (e, a, n) in enumerate(zip(ecps, alphas, names)):
        ax.plot(np.asarray(a), np.asarray(e), color=f"C{k}", lw=1.6, label=n)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(r"credibility level $\alpha$")
    ax.set_ylabel("expected coverage probability")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(Path(path), dpi=120)
    return fig


def _edges(columns, truth, bins: int) -> np.ndarray:
    """Common bin edges: 0.1-99.9% range of all sets (and the truth), padded by 5%."""
    allv = np.concatenate(columns)
    lo, hi = np.quantile(allv, [0.001, 0.999])
    if truth is not None:
        lo, hi = min(lo, truth), max(hi, truth)
    if not hi > lo:
        lo, hi = lo - 0.5 * (abs(lo) + 1.0), hi + 0.5 * (abs(hi) + 1.0)
    pad = 0.05 * (hi - lo)
    return np.linspace(lo - pad, hi + pad, int(bins) + 1)


def _contours(ax, x, y, ex, ey, levels, smooth, color, linestyles):
    from scipy.ndimage import gaussian_filter

    h, _, _ = np.histogram2d(x, y, bins=[ex, ey])
    if smooth:
        h = gaussian_filter(h, smooth)
    if not h.sum() > 0:
        return
    t = hpd_thresholds(h, levels)
    order = np.argsort(t)  # contour levels must increase
    t_sorted, styles = t[order], [linestyles[k] for k in order]
    keep = np.concatenate([[True], np.diff(t_sorted) > 0]) & (t_sorted > 0)
    if not keep.any():
        return
    xc, yc = 0.5 * (ex[1:] + ex[:-1]), 0.5 * (ey[1:] + ey[:-1])
    ax.contour(xc, yc, h.T, levels=t_sorted[keep], colors=[color],
               linestyles=[s for s, k in zip(styles, keep) if k], linewidths=1.2)
