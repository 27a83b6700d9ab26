"""MADE / SECRET emulator: JAX export against nflows' own torch log density, the first-dimension
conditioning, sampling against the density, training on a known density, the artifact."""
import json
import warnings
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from crinfer.core.errors import ConfigurationError, DomainError, ShapeError
from crinfer.core.parameters import Parameter, ParameterSpace
from crinfer.emulators import made_jax
from crinfer.emulators.artifact import ModelCard
from crinfer.emulators.made import MADEEmulator, MADESpec
from crinfer.emulators.made_train import _split, build_torch_made, fit_residual_map, state_arrays, train_made

PARAMS = ParameterSpace([Parameter("a", 0.0, 1.0), Parameter("b", 1.0, 100.0, scale="log")])


def perturbed_net(spec, seed=0, scale=0.3):
    """An nflows MADE-MoG whose weights are all moved away from their initialisation."""
    torch.manual_seed(seed)
    net = build_torch_made(spec)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(scale * torch.randn_like(p))
    return net


def emulator_from(net, spec, params=PARAMS):
    """The emulator of net; with the spec's polynomial degrees > 0, random trend coefficients."""
    d, p = spec.features, spec.context_features
    norm = {"x_mean": np.linspace(-1, 1, d), "x_std": np.linspace(0.5, 2, d)}
    if spec.location_degree or spec.scale_degree:
        rng = np.random.default_rng(7)
        norm["location_coef"] = rng.normal(size=(made_jax.polynomial_terms(p, spec.location_degree), d))
        norm["log_scale_coef"] = 0.3 * rng.normal(size=(made_jax.polynomial_terms(p, spec.scale_degree), d))
    card = ModelCard(name="t", kind="secret", dataset_hash="0", n_train=0, n_validation=0)
    if params is not None:
        norm.update(theta_mean=np.full(p, 0.5), theta_std=np.full(p, 0.3))
        card.training_domain = {"a": [0.0, 1.0], "b": [1.0, 100.0]}
    return MADEEmulator(spec, state_arrays(net), norm, card, params)


SPEC = MADESpec(features=4, context_features=2, hidden_features=16, num_blocks=2, num_components=3,
                order=(2, 0, 3, 1))
# the same network behind a per-theta standardisation (quadratic location, linear log scale)
SPEC_TREND = MADESpec(features=4, context_features=2, hidden_features=16, num_blocks=2, num_components=3,
                      order=(2, 0, 3, 1), location_degree=2, scale_degree=1)


def test_jax_log_prob_equals_nflows_log_prob():
    """Same weights: the JAX forward pass gives nflows' torch log_prob (float64 to 1e-10,
    float32 weights and torch float32 to 1e-5 relative)."""
    net = perturbed_net(SPEC)
    rng = np.random.default_rng(1)
    z = np.concatenate([np.zeros((64, 1)), rng.normal(size=(64, 4))], axis=1)
    ctx = rng.normal(size=(64, 2))
    net64 = build_torch_made(SPEC).double()
    net64.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in net.state_dict().items()})
    with torch.no_grad():
        ref64 = net64.log_prob(torch.as_tensor(z), torch.as_tensor(ctx)).numpy()
        ref32 = net.log_prob(torch.as_tensor(z, dtype=torch.float32), torch.as_tensor(ctx, dtype=torch.float32)).numpy()
    log_prob = jax.jit(partial(made_jax.log_prob_per_feature, num_blocks=2, num_components=3, epsilon=SPEC.epsilon))
    ours64 = log_prob(made_jax.masked_weights(state_arrays(net64), 2), jnp.asarray(z),
                      jnp.asarray(ctx)).sum(-1)
    np.testing.assert_allclose(ours64, ref64, rtol=1e-10)
    ours32 = log_prob(made_jax.masked_weights(state_arrays(net), 2, jnp.float32),
                      jnp.asarray(z, jnp.float32), jnp.asarray(ctx, jnp.float32)).sum(-1)
    np.testing.assert_allclose(ours32, ref32, rtol=1e-5)


@pytest.mark.slow
def test_log_prob_gradient_in_theta_is_nonzero_for_every_dimension_and_the_first_feature():
    emu = emulator_from(perturbed_net(SPEC), SPEC)
    x = jnp.array([0.3, -0.2, 1.1, 0.4])
    theta = jnp.array([0.4, 20.0])
    grad = jax.grad(lambda t: emu.log_prob(x, t))(theta)
    assert np.all(np.abs(np.asarray(grad)) > 1e-6), grad
    # the first real feature in autoregressive order sees theta (the dummy-column fix)
    first = lambda t: emu._log_prob_z(emu.weights, emu.to_network_x(x), emu.to_network_theta(t))[1]  # noqa: E731
    g_first = jax.grad(first)(theta)
    assert np.all(np.abs(np.asarray(g_first)) > 1e-6), g_first


@pytest.mark.parametrize("spec", [SPEC, SPEC_TREND], ids=["per-bin", "per-theta"])
def test_noise_transform_is_a_change_of_variables_to_the_made_density(spec):
    """x = from_noise(eps, theta): log N(eps) - log|det dx/deps| equals log_prob(x | theta)
    exactly (the transform carries N(0, I) onto the MADE's density, with or without the
    per-theta standardisation), to_noise inverts it, and its derivatives in theta match finite
    differences (the bisection root is differentiated implicitly)."""
    emu = emulator_from(perturbed_net(SPEC), spec)
    theta = jnp.array([0.4, 20.0])
    eps = jax.random.normal(jax.random.PRNGKey(3), (5, 4), dtype=jnp.float64)
    x = emu.from_noise(eps, theta)
    np.testing.assert_allclose(emu.to_noise(x, theta), eps, atol=1e-9)
    _, logdet = np.linalg.slogdet(np.asarray(jax.vmap(jax.jacfwd(lambda v: emu.from_noise(v, theta)))(eps)))
    normal = -0.5 * np.sum(np.asarray(eps) ** 2, axis=1) - 2.0 * np.log(2.0 * np.pi)
    np.testing.assert_allclose(normal - logdet, np.asarray(emu.log_prob(x, theta)), rtol=1e-8)
    grad = jax.grad(lambda t: emu.from_noise(eps[0], t).sum())(theta)
    for i, h in enumerate((1e-6, 1e-4)):
        step = np.zeros(2)
        step[i] = h
        fd = (emu.from_noise(eps[0], theta + step).sum() - emu.from_noise(eps[0], theta - step).sum()) / (2 * h)
        np.testing.assert_allclose(float(grad[i]), float(fd), rtol=1e-5)
    with pytest.raises(ConfigurationError, match="theta is required"):
        emu.from_noise(eps)


@pytest.mark.parametrize("spec", [SPEC, SPEC_TREND], ids=["per-bin", "per-theta"])
def test_noise_transform_with_a_centred_head_factorises_the_density(spec):
    """Head (the first k network coordinates, fixed) + noise for the rest: the head's marginal
    times the change of variables (head, eps) -> x is the full density, and a head cut from a full
    transform reproduces it."""
    emu = emulator_from(perturbed_net(SPEC), spec)
    theta = jnp.array([0.4, 20.0])
    k = 2
    eps = jax.random.normal(jax.random.PRNGKey(4), (5, 4), dtype=jnp.float64)
    x_full = emu.from_noise(eps, theta)
    head = emu.network_coordinates(x_full, theta)[:, :k]
    x = emu.from_noise(eps[:, k:], theta, head=head)
    np.testing.assert_allclose(x, x_full, atol=1e-10)

    both = jnp.concatenate([head, eps[:, k:]], axis=1)
    jac = jax.vmap(jax.jacfwd(lambda v: emu.from_noise(v[k:], theta, head=v[:k])))(both)
    _, logdet = np.linalg.slogdet(np.asarray(jac))
    normal = -0.5 * np.sum(np.asarray(eps[:, k:]) ** 2, axis=1) - 0.5 * (4 - k) * np.log(2.0 * np.pi)
    np.testing.assert_allclose(np.asarray(emu.network_log_prob(head, theta)) + normal - logdet,
                               np.asarray(emu.log_prob(x, theta)), rtol=1e-8)
    with pytest.raises(ShapeError, match="D - 2 = 2"):
        emu.from_noise(eps, theta, head=head)
    with pytest.raises(ShapeError, match="5 columns; must be in 1..4"):
        emu.network_log_prob(jnp.zeros(5), theta)


@pytest.mark.parametrize("spec", [SPEC, SPEC_TREND], ids=["per-bin", "per-theta"])
def test_network_coordinates_density_and_leading_marginal(spec):
    """network_log_prob of all D coordinates is log_prob plus the standardisation's Jacobian
    sum log(x_std s(theta)), and the coordinates invert; the first coordinate's marginal integrates
    to 1 and its standard deviation is conditional_sd's first entry."""
    emu = emulator_from(perturbed_net(SPEC), spec)
    theta = jnp.array([0.7, 5.0])
    x = emu.sample(1, 6, theta)
    z = emu.network_coordinates(x, theta)
    ctx = emu.to_network_theta(theta)
    np.testing.assert_allclose(emu.from_network_z(z, ctx), x, atol=1e-12)
    log_scale = np.asarray(emu.residual_map(ctx)[1])
    jacobian = np.sum(np.log(emu.normalisation["x_std"]) + log_scale)
    assert (spec is SPEC) == np.allclose(log_scale, 0.0)
    np.testing.assert_allclose(emu.network_log_prob(z, theta), np.asarray(emu.log_prob(x, theta)) + jacobian, rtol=1e-10)

    grid = np.linspace(-15.0, 15.0, 6001)
    density = np.exp(np.asarray(emu.network_log_prob(grid[:, None], theta)))
    dz = grid[1] - grid[0]
    assert abs(density.sum() * dz - 1.0) < 1e-6
    mu = np.sum(grid * density) * dz
    sd = np.sqrt(np.sum((grid - mu) ** 2 * density) * dz)
    np.testing.assert_allclose(float(emu.conditional_sd(x[0], theta)[0]), sd, rtol=1e-6)


@pytest.mark.slow
def test_samples_follow_the_log_density():
    """Moments of 2e5 JAX samples equal those of exp(log_prob) integrated on a grid (2-D MADE)."""
    spec = MADESpec(features=2, hidden_features=12, num_blocks=1, num_components=2, order=(1, 0))
    emu = emulator_from(perturbed_net(spec, seed=3, scale=0.2), spec, params=None)
    xs = emu.sample(jax.random.PRNGKey(0), 200_000)
    g0 = np.linspace(-12, 12, 601) * 0.5 + emu.normalisation["x_mean"][0]
    g1 = np.linspace(-12, 12, 601) * 2.0 + emu.normalisation["x_mean"][1]
    X0, X1 = np.meshgrid(g0, g1, indexing="ij")
    dens = np.exp(np.asarray(emu.log_prob(np.stack([X0, X1], -1))))
    cell = (g0[1] - g0[0]) * (g1[1] - g1[0])
    assert abs(dens.sum() * cell - 1.0) < 1e-3
    xs = np.asarray(xs)
    for on_grid, sample in ((X0, xs[:, 0]), (X1, xs[:, 1]), (X0 * X1, xs[:, 0] * xs[:, 1])):
        grid_moment = (on_grid * dens).sum() * cell
        se = np.std(sample) / np.sqrt(len(sample))
        assert abs(np.mean(sample) - grid_moment) < 4 * se + 1e-3


@pytest.mark.slow
def test_training_recovers_a_known_conditional_density():
    """x | theta ~ N(m(theta), Sigma) in 3-D: held-out KL(true || MADE) < 0.05 nats."""
    rng = np.random.default_rng(0)
    params = ParameterSpace([Parameter("a", 0.0, 1.0)])
    L = np.array([[1.0, 0, 0], [0.6, 0.8, 0], [-0.3, 0.4, 0.5]])

    def draw(n):
        a = rng.uniform(0, 1, (n, 1))
        mean = np.concatenate([2 * a, np.sin(3 * a), -a], axis=1)
        return mean + rng.normal(size=(n, 3)) @ L.T, a

    def true_log_prob(x, a):
        mean = np.concatenate([2 * a, np.sin(3 * a), -a], axis=1)
        r = np.linalg.solve(L, (x - mean).T).T
        return -0.5 * (r**2).sum(1) - np.log(np.diag(L)).sum() - 1.5 * np.log(2 * np.pi)

    x, a = draw(6000)
    spec = MADESpec(features=3, context_features=1, hidden_features=48, num_blocks=1, num_components=3)
    emu = train_made(x, a, params, spec, key=0, batch_size=256, max_epochs=300, patience=15, progress=False)
    xt, at = draw(4000)
    kl = np.mean(true_log_prob(xt, at) - np.asarray(emu.log_prob(xt, at)))
    assert kl < 0.05, kl
    assert emu.card.n_train + emu.card.n_validation == 6000 and emu.card.kind == "secret"


def test_polynomial_features_are_the_monomials_up_to_the_degree():
    c = np.array([[2.0, 3.0], [-1.0, 0.5]])
    feats = np.asarray(made_jax.polynomial_features(c, 2))
    a, b = c[:, 0], c[:, 1]
    np.testing.assert_allclose(feats, np.stack([np.ones(2), a, b, a * a, a * b, b * b], 1))
    assert made_jax.polynomial_terms(5, 3) == np.asarray(made_jax.polynomial_features(np.zeros((1, 5)), 3)).shape[1] == 56


def test_trend_coefficients_of_the_wrong_shape_are_a_named_error():
    emu = emulator_from(perturbed_net(SPEC), SPEC_TREND)
    norm = {**emu.normalisation, "location_coef": emu.normalisation["location_coef"][:3]}
    with pytest.raises(ShapeError, match=r"'location_coef' has shape \(3, 4\); degree 2 in 2 parameters needs \(6, 4\)"):
        MADEEmulator(SPEC_TREND, emu.state, norm, emu.card, PARAMS)


def test_residual_map_recovers_a_polynomial_trend_and_scale():
    """y = m(c) + s(c) eps with quadratic m and linear log s: the least-squares map finds m to the
    Monte Carlo error, also with a long one-sided tail, and s to a few per cent; too few distinct
    points is a named error."""
    rng = np.random.default_rng(3)
    c = np.repeat(rng.uniform(-1.5, 1.5, (400, 2)), 25, axis=0)
    poly2, poly1 = np.asarray(made_jax.polynomial_features(c, 2)), np.asarray(made_jax.polynomial_features(c, 1))
    loc_true = rng.normal(size=(6, 3))
    log_s_true = np.array([[-1.0, -2.0, 0.0], [0.3, 0.0, -0.2], [0.0, 0.4, 0.1]])
    y = poly2 @ loc_true + np.exp(poly1 @ log_s_true) * rng.normal(size=(len(c), 3))
    loc, log_s = fit_residual_map(y, c, 2, 1)
    np.testing.assert_allclose(poly2 @ loc, poly2 @ loc_true, atol=0.05 * np.exp(poly1 @ log_s_true).max())
    np.testing.assert_allclose(log_s, log_s_true, atol=0.06)
    y[::50, 0] -= 30.0  # a 2 % tail 30 scale units long: the clipped fit hardly moves
    loc_tail, _ = fit_residual_map(y, c, 2, 1)
    np.testing.assert_allclose(poly2 @ loc_tail, poly2 @ loc_true, atol=0.1 * np.exp(poly1 @ log_s_true).max())
    with pytest.raises(ConfigurationError, match="location_degree=3 has 10 terms.* 19 distinct.*at least 20"):
        fit_residual_map(y[:19 * 25:25], c[:19 * 25:25], 3, 1)


def test_conditional_validation_split_keeps_parameter_points_whole():
    """Realisations at one theta all land on one side of the split, so the validation loss
    measures unseen theta (by="rows" mixes them, as the first shipped SECRET was trained); a
    per-theta trend is fitted, and degrees on an unconditional spec are a named error."""
    rng = np.random.default_rng(0)
    params = ParameterSpace([Parameter("a", 0.0, 1.0)])
    a = np.repeat(rng.uniform(0, 1, (40, 1)), 10, axis=0)
    x = np.concatenate([3 * a, -a], axis=1) + 0.1 * rng.normal(size=(400, 2))
    spec = MADESpec(features=2, context_features=1, hidden_features=8, num_components=1, location_degree=1)
    emu = train_made(x, a, params, spec, key=0, max_epochs=2, progress=False)
    assert (emu.card.n_train, emu.card.n_validation) == (360, 40)
    val, train = _split(a, 400, 0.1, np.random.default_rng(1))
    assert len(val) == 40 and not set(a[val, 0]) & set(a[train, 0])
    val_rows, train_rows = _split(a, 400, 0.1, np.random.default_rng(1), by="rows")
    assert len(val_rows) == 40 and set(a[val_rows, 0]) & set(a[train_rows, 0])
    with pytest.raises(ConfigurationError, match="validation_split='cells'; allowed"):
        _split(a, 400, 0.1, np.random.default_rng(1), by="cells")
    assert emu.normalisation["location_coef"].shape == (2, 2)
    with pytest.raises(ConfigurationError, match="location_degree=2; must be 0"):
        MADESpec(features=2, location_degree=2)
    with pytest.raises(ConfigurationError, match="scale_degree=7; must be in 0..6"):
        MADESpec(features=2, context_features=1, scale_degree=7)


@pytest.mark.slow
def test_artifact_round_trip_guard_and_errors(tmp_path):
    emu = emulator_from(perturbed_net(SPEC), SPEC)
    x = np.random.default_rng(2).normal(size=(5, 4))
    theta = np.tile([0.5, 10.0], (5, 1))
    emu.save(tmp_path / "m")
    back = MADEEmulator.load(tmp_path / "m")
    np.testing.assert_array_equal(np.asarray(back.log_prob(x, theta)), np.asarray(emu.log_prob(x, theta)))
    assert back.spec == emu.spec and back.params.names == ("a", "b")
    with pytest.raises(FileExistsError, match="already holds"):
        emu.save(tmp_path / "m")
    spec_file = tmp_path / "m" / "spec.json"
    assert json.loads(spec_file.read_text())["schema"] == "crinfer.made/1"
    # same key, same samples
    np.testing.assert_array_equal(np.asarray(emu.simulate(7, theta)), np.asarray(emu.simulate(7, theta)))
    with pytest.warns(UserWarning, match="'a' = 1.5"):
        emu.log_prob(x[0], np.array([1.5, 10.0]))
    refusing = MADEEmulator.load(tmp_path / "m", guard="refuse")
    with pytest.raises(DomainError, match="'b' = 200.0"):
        refusing.log_prob(x[0], np.array([0.5, 200.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        emu.log_prob(x[0], np.array([0.5, 10.0]))
    with pytest.raises(ShapeError, match="P = 2"):
        emu.sample(0, 10, np.array([0.5]))
    single = MADEEmulator.load(tmp_path / "m", dtype=jnp.float32)     # the GPU precision: float32 throughout
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no float64 value cast into the float32 draws
        draws = single.sample(3, 2000, np.array([0.5, 10.0]))
    assert draws.dtype == jnp.float32 and single.log_prob(draws, np.array([0.5, 10.0])).dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(single.log_prob(x, theta)), np.asarray(emu.log_prob(x, theta)), rtol=1e-4)
    with pytest.raises(ConfigurationError, match="hidden_features=3"):
        MADESpec(features=4, hidden_features=3)
    with pytest.raises(ConfigurationError, match="order"):
        MADESpec(features=3, order=(0, 0, 1))


def test_artifact_files_guard_and_named_errors(tmp_path):
    """The fast part of the artifact contract (no JAX compilation)."""
    emu = emulator_from(perturbed_net(SPEC), SPEC)
    emu.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "card.json", "normalisation.safetensors", "spec.json", "weights.safetensors"]
    with pytest.raises(FileExistsError, match="already holds"):
        emu.save(tmp_path / "m")
    back = MADEEmulator.load(tmp_path / "m", guard="refuse")
    assert back.spec == emu.spec and back.params.names == ("a", "b")
    for name, value in emu.state.items():
        np.testing.assert_array_equal(back.state[name], value)
    with pytest.raises(DomainError, match="'b' = 200.0"):
        back.guard.check(np.array([[0.5, 200.0]]))
    back.guard.check(np.array([[0.5, 20.0]]))
    (tmp_path / "m" / "card.json").unlink()
    with pytest.raises(FileNotFoundError, match="missing card.json"):
        MADEEmulator.load(tmp_path / "m")
    with pytest.raises(ConfigurationError, match="guard mode='strict'"):
        MADEEmulator(emu.spec, emu.state, emu.normalisation, emu.card, emu.params, guard="strict")
    with pytest.raises(ConfigurationError, match="hidden_features=3"):
        MADESpec(features=4, hidden_features=3)


def _toy_campaign(tmp_path, name, n=40, seed=2, b_high=10.0):
    """A complete toy.gaussian campaign of n LHS points x 5 realisations; its recipe's path."""
    from crinfer.campaign import run_campaign

    campaign = tmp_path / f"{name}.toml"
    campaign.write_text(f"""
[simulator]
name = "toy.gaussian"
config = {{ n_obs = 3, sigma = 0.3 }}
[parameters]
a = {{ low = -1.0, high = 1.0 }}
b = {{ low = 0.1, high = {b_high}, scale = "log" }}
[design]
type = "latin_hypercube"
n = {n}
seed = {seed}
[campaign]
realisations = 5
chunk_size = 50
seed = {seed + 6}
[store]
path = "{tmp_path / name}"
""")
    run_campaign(campaign, progress=False)
    return campaign


def test_train_recipe_trains_on_its_campaign_and_records_the_box(tmp_path):
    """A SECRET recipe: the campaign's store is the training set, the card's domain is the
    campaign's box (not the extreme training points), the recipe travels with the artifact; bad
    keys are named."""
    from crinfer.emulators.made_train import train_recipe

    campaign = _toy_campaign(tmp_path, "toy")
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(f'name = "toy_secret"\ncampaign = "{campaign}"\nkey = 1\n'
                      "[architecture]\nhidden_features = 16\nnum_components = 2\n"
                      "[train]\nmax_epochs = 3\nprogress = false\n")
    emu = train_recipe(recipe, tmp_path / "artifact")
    assert emu.card.training_domain == {"a": [-1.0, 1.0], "b": [0.1, 10.0]}
    assert emu.card.n_train + emu.card.n_validation == 200 and emu.spec.hidden_features == 16
    assert (tmp_path / "artifact" / "recipe.toml").read_text() == recipe.read_text()
    back = MADEEmulator.load(tmp_path / "artifact")
    assert back.card.dataset_hash == emu.card.dataset_hash
    with pytest.raises(FileExistsError):
        train_recipe(recipe, tmp_path / "artifact")
    recipe.write_text(f'campaign = "{campaign}"\nepochs = 3\n')
    with pytest.raises(ConfigurationError, match="'epochs'"):
        train_recipe(recipe, tmp_path / "other")


def test_train_recipe_concatenates_campaigns_over_one_box(tmp_path):
    """A recipe naming two campaigns trains on both stores (every row, the hash of their
    concatenation); a campaign over another box is refused, naming it and the two boxes."""
    from crinfer.campaign.runner import load_dataset
    from crinfer.emulators.artifact import dataset_hash
    from crinfer.emulators.made_train import train_recipe

    first, second = _toy_campaign(tmp_path, "first", n=40, seed=2), _toy_campaign(tmp_path, "second", n=24, seed=3)
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(f'campaign = ["{first}", "{second}"]\n'
                      "[architecture]\nhidden_features = 16\nnum_components = 2\n"
                      "[train]\nmax_epochs = 2\nprogress = false\n")
    emu = train_recipe(recipe, tmp_path / "artifact")
    (t1, x1, _), (t2, x2, _) = load_dataset(tmp_path / "first"), load_dataset(tmp_path / "second")
    assert emu.card.n_train + emu.card.n_validation == 200 + 120
    assert emu.card.dataset_hash == dataset_hash(np.concatenate([x1, x2]), np.concatenate([t1, t2]))
    other = _toy_campaign(tmp_path, "other", n=8, seed=4, b_high=20.0)
    recipe.write_text(f'campaign = ["{first}", "{other}"]\n[train]\nmax_epochs = 2\nprogress = false\n')
    with pytest.raises(ConfigurationError, match=r"other\.toml.*parameter box.*20\.0.*10\.0"):
        train_recipe(recipe, tmp_path / "refused")
    recipe.write_text("campaign = []\n")
    with pytest.raises(ConfigurationError, match="non-empty list"):
        train_recipe(recipe, tmp_path / "empty")


@pytest.mark.parametrize("name", ["secret_cpu", "secret_cpu_trend", "secret_lhs_gpu", "secret_lhs_gpu_trend",
                                  "secret_lhs_131k_trend5", "secret_lhs_197k_trend5"])
def test_shipped_secret_gives_nflows_log_prob_on_its_own_draws(name):
    """Each shipped conditional SECRET loads (guard refusing), and on its own draws at a corner
    and the centre of its training box the JAX network gives the torch nflows network's log
    density with the shipped weights (float64, 1e-10 relative)."""
    emu = MADEEmulator.load(Path(__file__).resolve().parents[1] / "emulators" / name, guard="refuse")
    low, high = (np.array([emu.card.training_domain[p][i] for p in emu.params.names]) for i in (0, 1))
    net = build_torch_made(emu.spec).double()
    net.load_state_dict({k: torch.as_tensor(np.asarray(v, np.float64) if v.dtype.kind == "f" else v)
                         for k, v in emu.state.items()})
    for i, theta in enumerate((low + 0.05 * (high - low), (low + high) / 2)):
        x = emu.sample(i, 64, jnp.asarray(theta))
        assert np.all(np.isfinite(np.asarray(x)))
        ctx = jnp.broadcast_to(emu.to_network_theta(jnp.asarray(theta)), (64, len(theta)))
        z = emu.to_network_x(x, ctx)
        ours = emu._log_prob_z(emu.weights, z, ctx).sum(-1)
        with torch.no_grad():
            ref = net.log_prob(torch.as_tensor(np.array(z)), torch.as_tensor(np.array(ctx))).numpy()
        np.testing.assert_allclose(np.asarray(ours), ref, rtol=1e-10)
