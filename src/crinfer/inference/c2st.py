"""Classifier two-sample test (C2ST) between two sample sets."""
from __future__ import annotations

import numpy as np
import torch


def c2st(a, b, *, seed: int = 1, n_folds: int = 5, classifier: str = "mlp") -> float:
    """Cross-validated accuracy of a classifier telling ``a`` from ``b`` (0.5: indistinguishable).

    Both sets are z-scored with the statistics of ``a``. The default MLP classifier is the one
    of sbibm (Lueckmann et al. 2021): two hidden layers of 10 x dim units, through sbi's
    implementation, with ``n_folds``-fold cross-validation.
    """
    from sbi.utils.metrics import c2st as _sbi_c2st

    a = torch.as_tensor(np.asarray(a, dtype=np.float32))
    b = torch.as_tensor(np.asarray(b, dtype=np.float32))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"c2st needs two (n, d) arrays with the same d, got {tuple(a.shape)} and {tuple(b.shape)}")
    return float(_sbi_c2st(a, b, seed=seed, n_folds=n_folds, classifier=classifier, z_score=True))
