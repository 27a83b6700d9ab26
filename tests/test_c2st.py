"""C2ST with sbi's and sbibm's classifiers: chance on one distribution, the Bayes accuracy on two."""
import numpy as np
import pytest
from scipy.stats import norm

from crinfer.inference.c2st import c2st


@pytest.fixture(scope="module")
def samples():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 1000, 2))
    return a, b, b + np.array([1.0, 0.0])  # unit shift in one of two dimensions


@pytest.mark.parametrize("classifier", ["mlp", "sbibm"])
def test_chance_on_one_distribution_bayes_accuracy_on_shifted(samples, classifier):
    a, same, shifted = samples
    assert abs(c2st(a, same, classifier=classifier) - 0.5) < 0.05  # sd of the accuracy ~0.011
    # two unit-variance Gaussians 1 sd apart: the best classifier's accuracy is Phi(1/2) = 0.691
    assert abs(c2st(a, shifted, classifier=classifier) - norm.cdf(0.5)) < 0.04


def test_sbibm_classifier_equals_sbibms_own_metric(samples):
    """The published figures' metric, sbibm.metrics.c2st, on the same samples: the same accuracy."""
    import torch

    sbibm_metrics = pytest.importorskip("sbibm.metrics")
    a, _, shifted = samples
    theirs = float(sbibm_metrics.c2st(torch.as_tensor(a, dtype=torch.float32),
                                      torch.as_tensor(shifted, dtype=torch.float32), seed=1)[0])
    assert c2st(a, shifted, seed=1, classifier="sbibm") == pytest.approx(theirs, abs=1e-6)
    assert c2st(a, shifted, seed=1, classifier="mlp") != pytest.approx(theirs, abs=1e-6)  # sbi's differs here


def test_bad_input_is_named(samples):
    with pytest.raises(ValueError, match="allowed"):
        c2st(samples[0], samples[1], classifier="svm")
    with pytest.raises(ValueError, match=r"\(1000, 2\)"):
        c2st(samples[0], samples[1][:, :1])
