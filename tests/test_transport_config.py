"""Bad transport configurations give a ConfigurationError naming the value and what is allowed."""
import copy

import numpy as np
import pytest

from crinfer.core.errors import ConfigurationError
from crinfer.simulators.transport import SpeciesProblem, TransportConfig, TransportGrid, solve

BASE = {
    "grid": {"r_max_kpc": 20.0, "z_h_kpc": 4.0, "n_r": 11, "n_z": 21, "E_min_GeV": 0.1, "n_E": 6,
             "E_factor": 2.0},
    "observer": {"r_kpc": 8.5, "z_kpc": 0.0},
    "species": [{
        "name": "electron", "particle": "electron",
        "diffusion": {"D0_cm2_s": 4e28, "delta": 0.33, "R0_GV": 4.0},
        "source": {"radial": "galprop", "r_cut_kpc": 15.0, "vertical": "exponential", "z_scale_kpc": 0.2,
                   "spectrum": {"variable": "momentum", "break": 4.0, "index_low": 1.6, "index_high": 2.5}},
    }],
}


def config(**changes):
    """BASE with dotted-path changes ('species.' paths apply to the one species)."""
    data = copy.deepcopy(BASE)
    for path, value in changes.items():
        keys = path.split("__")
        t = data["species"][0] if keys[0] == "species" else data
        keys = keys[1:] if keys[0] == "species" else keys
        for k in keys[:-1]:
            t = t.setdefault(k, {})
        t[keys[-1]] = value
    return data


def small_grid(**kw):
    args = dict(r_max=20.0, z_h=4.0, n_r=11, n_z=21, energies=[1.0, 2.0, 4.0])
    args.update(kw)
    return TransportGrid(**args)


@pytest.mark.slow
def test_base_config_is_valid_and_builds():
    cfg = TransportConfig(config())
    (prob,) = cfg.build_problems()
    assert prob.name == "electron" and np.all(prob.diffusion > 0)


@pytest.mark.parametrize("D0", [0.0, -4e28, float("nan")])
def test_nonpositive_diffusion_in_config(D0):
    with pytest.raises(ConfigurationError, match=r"D0_cm2_s must be finite and > 0, got"):
        TransportConfig(config(species__diffusion__D0_cm2_s=D0))


@pytest.mark.parametrize("value", [0.0, -0.13])
def test_nonpositive_diffusion_array_in_problem(value):
    g = small_grid()
    D = np.array([0.1, value, 0.1])
    prob = SpeciesProblem("e", D, np.ones((g.n_r, g.n_z)), np.ones(3))
    with pytest.raises(ConfigurationError, match=r"diffusion D .*must be > 0 everywhere, got"):
        solve(g, prob)


@pytest.mark.parametrize("r, z, what", [
    (25.0, 0.0, "outside the grid"),        # beyond R_h
    (8.5, 5.0, "outside the grid"),         # above the halo
    (-1.0, 0.0, "outside the grid"),
    (20.0, 0.0, "free-escape boundary"),    # on the psi = 0 boundary
    (8.5, -4.0, "free-escape boundary"),
])
def test_grid_that_excludes_the_observer(r, z, what):
    with pytest.raises(ConfigurationError, match=what) as exc:
        TransportConfig(config(observer={"r_kpc": r, "z_kpc": z}))
    assert repr(r) in str(exc.value) and "kpc" in str(exc.value)


def test_observer_outside_a_small_halo_in_solve():
    g = small_grid(r_max=8.0)
    prob = SpeciesProblem("e", np.full(3, 0.1), np.ones((g.n_r, g.n_z)), np.ones(3))
    with pytest.raises(ConfigurationError, match=r"observer at \(r, z\) = \(8.5, 0.0\) kpc lies outside the grid 0 <= r <= 8.0"):
        solve(g, prob, observer=(8.5, 0.0))


@pytest.mark.parametrize("z_h", [0.0, -4.0])
def test_nonpositive_halo_height(z_h):
    with pytest.raises(ConfigurationError, match=rf"z_h_kpc \(halo half-height\) must be > 0, got {z_h!r}"):
        TransportConfig(config(grid__z_h_kpc=z_h))
    with pytest.raises(ConfigurationError, match=r"z_h \(halo half-height, kpc\) must be a finite number > 0"):
        small_grid(z_h=z_h)


def test_energy_grid_not_increasing():
    with pytest.raises(ConfigurationError, match=r"energy factor must be > 1 \(increasing grid\), got 0.8"):
        TransportConfig(config(grid__E_factor=0.8))
    data = config(grid__E_max_GeV=0.05)
    del data["grid"]["E_factor"]
    with pytest.raises(ConfigurationError, match=r"must be increasing: E_max = 0.05 GeV <= E_min = 0.1 GeV"):
        TransportConfig(data)
    with pytest.raises(ConfigurationError, match=r"strictly increasing; E\[1\] = 2.0 >= E\[2\] = 1.0"):
        small_grid(energies=[1.0, 2.0, 1.0])
    with pytest.raises(ConfigurationError, match=r"energies must be finite and > 0 GeV"):
        small_grid(energies=[-1.0, 2.0, 4.0])
    with pytest.raises(ConfigurationError, match=r"logarithmic \(constant ratio"):
        small_grid(energies=[1.0, 2.0, 3.0])


def test_source_outside_the_domain():
    # a ring source beyond the halo radius
    with pytest.raises(ConfigurationError, match=r"r0_kpc = 25.0 lies outside the halo 0 <= r < 20.0 kpc"):
        TransportConfig(config(species__source__radial="gaussian", species__source__r0_kpc=25.0))
    # a disc thicker than the halo
    with pytest.raises(ConfigurationError, match=r"z_scale_kpc = 5.0 must lie in \(0, z_h = 4.0\) kpc"):
        TransportConfig(config(species__source__z_scale_kpc=5.0))
    # a source array that is non-zero only on the free-escape boundary
    g = small_grid()
    S = np.zeros((g.n_r, g.n_z))
    S[-1, :] = 1.0
    S[:, 0] = 1.0
    prob = SpeciesProblem("e", np.full(3, 0.1), S, np.ones(3))
    with pytest.raises(ConfigurationError, match=r"source is zero only on the free-escape boundary.*r < 20.0 kpc"):
        solve(g, prob)
    prob = SpeciesProblem("e", np.full(3, 0.1), np.zeros((g.n_r, g.n_z)), np.ones(3))
    with pytest.raises(ConfigurationError, match=r"source is zero everywhere"):
        solve(g, prob)


def test_unknown_keys_and_bad_options_are_named():
    with pytest.raises(ConfigurationError, match=r"unknown keys \['D0'\]"):
        TransportConfig(config(species__diffusion__D0=1.0))
    with pytest.raises(ConfigurationError, match=r"method 'euler' is not one of"):
        solve(small_grid(), SpeciesProblem("e", np.full(3, 0.1), np.ones((11, 21)), np.ones(3)), method="euler")


SMALL_TOML = """
[grid]
r_max_kpc = 20.0
z_h_kpc = {z_h}
n_r = 11
n_z = 21
E_min_GeV = 0.1
n_E = 6
E_factor = 2.0

[[species]]
name = "electron"
particle = "electron"
[species.diffusion]
D0_cm2_s = 4.0e28
[species.source]
radial = "galprop"
r_cut_kpc = 15.0
"""


@pytest.mark.slow
def test_cli_solve_writes_solution_and_rejects_bad_config(tmp_path):
    import typer
    from typer.testing import CliRunner

    from crinfer.simulators.transport import TransportResult
    from crinfer.simulators.transport.cli import transport_app

    app = typer.Typer()                       # mounted as in crinfer.cli: `crinfer transport solve ...`
    app.add_typer(transport_app, name="transport")

    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(SMALL_TOML.format(z_h=4.0))
    bad.write_text(SMALL_TOML.format(z_h=-1.0))
    runner = CliRunner()
    res = runner.invoke(app, ["transport", "solve", str(good), "--out", str(tmp_path / "out"), "--format", "npz",
                                        "--no-plots"])
    assert res.exit_code == 0, res.output
    sol = TransportResult.load(tmp_path / "out" / "solution.npz")
    assert sol["electron"].shape == (11, 21, 6) and np.all(sol.sun_spectrum("electron") > 0)
    assert (tmp_path / "out" / "sun_spectra.csv").is_file() and (tmp_path / "out" / "summary.json").is_file()
    res = runner.invoke(app, ["transport", "solve", str(bad), "--out", str(tmp_path / "bad")])
    assert res.exit_code == 2
    assert "z_h_kpc (halo half-height) must be > 0, got -1.0" in res.output
