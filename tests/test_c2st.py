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


def test_sbibm_classifier_is_sbibms_settings(samples, monkeypatch):
    import sbi.utils.metrics as metrics

    seen = {}
    monkeypatch.setattr(metrics, "c2st", lambda *a, **kw: seen.update(kw) or 0.5)
    c2st(samples[0], samples[1], classifier="sbibm")
    assert seen["classifier"] == "mlp"
    assert seen["classifier_kwargs"] == {"activation": "relu", "hidden_layer_sizes": (20, 20),
                                         "max_iter": 10_000, "solver": "adam"}  # no early stopping
    c2st(samples[0], samples[1])
    assert seen["classifier_kwargs"] is None  # sbi's default MLP, early stopping


def test_bad_input_is_named(samples):
    with pytest.raises(ValueError, match="allowed"):
        c2st(samples[0], samples[1], classifier="svm")
    with pytest.raises(ValueError, match=r"\(1000, 2\)"):
        c2st(samples[0], samples[1][:, :1])
