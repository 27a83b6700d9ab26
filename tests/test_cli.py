"""The crinfer command: info, compare, fit argument errors."""
import numpy as np
import pytest
from typer.testing import CliRunner

from crinfer.cli import app
from crinfer.core import Parameter, ParameterSpace
from crinfer.inference.results import samples_to_inference_data

runner = CliRunner()


def test_info_lists_backends_and_devices():
    res = runner.invoke(app, ["info"])
    assert res.exit_code == 0, res.output
    for word in ("crinfer", "jax", "torch", "sbi", "numpyro", "arviz", "jax devices", "cpu"):
        assert word in res.output


@pytest.mark.slow
def test_compare_writes_table_and_corner_plot(tmp_path):
    params = ParameterSpace([Parameter("D0", 1, 9, unit="1e28 cm^2/s"), Parameter("delta", 0.2, 1.0)])
    rng = np.random.default_rng(0)
    paths = []
    for name, shift in (("a", 0.0), ("b", 0.5)):
        s = np.column_stack([rng.normal(4 + shift, 0.3, 2000), rng.normal(0.5, 0.05, 2000)])
        path = tmp_path / f"{name}.nc"
        samples_to_inference_data(s, params, method=name).to_netcdf(path)
        paths.append(str(path))
    out = tmp_path / "cmp"
    res = runner.invoke(app, ["compare", *paths, "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = (out / "comparison.md").read_text()
    assert "D0" in text and "1e28 cm^2/s" in text
    assert (out / "corner.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_compare_needs_two_existing_files(tmp_path):
    res = runner.invoke(app, ["compare", str(tmp_path / "missing.nc"), str(tmp_path / "other.nc")])
    assert res.exit_code != 0 and "no such file" in res.output
    res = runner.invoke(app, ["compare", str(tmp_path / "one.nc")])
    assert res.exit_code != 0 and "two or more" in res.output


def test_fit_rejects_unknown_method(tmp_path):
    res = runner.invoke(app, ["fit", "two_moons", "--method", "ABC", "--out", str(tmp_path)])
    assert res.exit_code != 0
    assert "ABC" in str(res.exception) and "NUTS" in str(res.exception)
