"""Explicit keys give reproducible numbers in every backend; DLPack round trips."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from crinfer.core import as_key, jax_to_torch, key_to_seed, numpy_rng, torch_generator, torch_to_jax


def test_same_key_same_numbers_in_numpy_and_torch():
    k = jax.random.PRNGKey(7)
    assert key_to_seed(k) == key_to_seed(jax.random.PRNGKey(7))
    assert key_to_seed(k) != key_to_seed(jax.random.PRNGKey(8))
    np.testing.assert_array_equal(numpy_rng(k).normal(size=5), numpy_rng(7).normal(size=5))
    a = torch.randn(5, generator=torch_generator(k))
    b = torch.randn(5, generator=torch_generator(jax.random.PRNGKey(7)))
    assert torch.equal(a, b)


@pytest.mark.parametrize("bad", [-1, 1.5, "seed", None])
def test_bad_keys_rejected(bad):
    with pytest.raises((TypeError, ValueError), match="seed|key"):
        as_key(bad)


def test_typed_keys_accepted():
    k = jax.random.key(3)
    assert key_to_seed(k) == key_to_seed(jax.random.key(3))


def test_dlpack_round_trip_keeps_values_and_dtype():
    x = jnp.arange(12.0).reshape(3, 4)
    t = jax_to_torch(x)
    assert t.dtype == torch.float64 and t.shape == (3, 4)
    np.testing.assert_array_equal(t.numpy(), np.asarray(x))
    back = torch_to_jax(t.T)  # non-contiguous input
    np.testing.assert_array_equal(np.asarray(back), np.asarray(x).T)
