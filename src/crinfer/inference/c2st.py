"""Classifier two-sample test (C2ST) between two sample sets."""
from __future__ import annotations

import numpy as np
import torch

CLASSIFIERS = ("mlp", "sbibm", "rf")


def c2st(a, b, *, seed: int = 1, n_folds: int = 5, classifier: str = "mlp") -> float:
    """Cross-validated accuracy of a classifier telling ``a`` from ``b`` (0.5: indistinguishable).

    Both sets are z-scored with the statistics of ``a``; ``n_folds``-fold cross-validation
    through sbi's implementation. Classifiers (all MLPs: two hidden layers of 10 x dim units):

    - "mlp": sbi 0.27's default, with early stopping on a 10 % validation split (50 epochs
      without improvement, at most 1,000 epochs);
    - "sbibm": the one behind sbibm's published figures (Lueckmann et al. 2021,
      sbibm/metrics/c2st.py): no early stopping, training stops when the training loss stalls
      (at most 10,000 epochs). Compare with published sbibm numbers only through this one; it
      differs from "mlp" in no fixed direction (docs/sbibm.md);
    - "rf": a random forest (scikit-learn defaults).
    """
    from sbi.utils.metrics import c2st as _sbi_c2st

    if classifier not in CLASSIFIERS:
        raise ValueError(f"classifier={classifier!r}; allowed: {CLASSIFIERS}")
    a = torch.as_tensor(np.asarray(a, dtype=np.float32))
    b = torch.as_tensor(np.asarray(b, dtype=np.float32))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"c2st needs two (n, d) arrays with the same d, got {tuple(a.shape)} and {tuple(b.shape)}")
    kwargs = None
    if classifier == "sbibm":
        width = 10 * a.shape[1]
        kwargs = {"activation": "relu", "hidden_layer_sizes": (width, width), "max_iter": 10_000, "solver": "adam"}
    return float(_sbi_c2st(a, b, seed=seed, n_folds=n_folds, z_score=True,
                           classifier="rf" if classifier == "rf" else "mlp", classifier_kwargs=kwargs))
