"""Campaign store and local runner: layout, checksums, resume, refusals, CLI."""
import json

import jax
import numpy as np
import pytest
from typer.testing import CliRunner

from crinfer.campaign import (Recipe, Store, campaign_status, chunk_key, load_dataset,
                              run_campaign)
from crinfer.campaign.cli import campaign_app
from crinfer.campaign.executors import jobqueue_cluster, make_executor
from crinfer.core import CampaignError, ConfigurationError
from crinfer.simulators.toy import GaussianToy

TEXT = """
[simulator]
name = "toy.gaussian"
config = { n_obs = 3, sigma = 0.5 }
[parameters]
a = { low = -1.0, high = 1.0 }
b = { low = 0.1, high = 10.0, scale = "log" }
[design]
type = "prior"
n = 9
seed = 2
[campaign]
realisations = 2
chunk_size = 4
seed = 8
"""


@pytest.fixture(scope="module")
def recipe():
    return Recipe.from_text(TEXT)


@pytest.fixture(scope="module")
def reference(recipe, tmp_path_factory):
    """One uninterrupted run; tests copy it instead of re-running."""
    out = tmp_path_factory.mktemp("ref") / "store"
    run_campaign(recipe, out, progress=False)
    return out


@pytest.mark.slow
def test_dataset_matches_the_simulator_row_by_row(recipe, reference):
    theta, x, meta = load_dataset(reference)
    n = recipe.n_rows
    assert theta.shape == (n, 2) and x.shape == (n, 3) and n == 18
    np.testing.assert_array_equal(meta["row"], np.arange(n))
    np.testing.assert_array_equal(meta["point"], np.arange(n) // 2)
    np.testing.assert_array_equal(meta["realisation"], np.arange(n) % 2)
    design = recipe.design.points(recipe.params)
    np.testing.assert_array_equal(theta, np.repeat(design, 2, axis=0))
    sim = GaussianToy(recipe.params, n_obs=3, sigma=0.5)
    for c in range(recipe.n_chunks):  # chunk c is simulate(fold_in(PRNGKey(seed), c), theta_c)
        rows = slice(c * 4, min(c * 4 + 4, n))
        key = jax.random.fold_in(jax.random.PRNGKey(8), c)
        np.testing.assert_array_equal(chunk_key(8, c), np.asarray(key))
        np.testing.assert_array_equal(meta["key"][rows], np.broadcast_to(np.asarray(key), (len(x[rows]), 2)))
        np.testing.assert_array_equal(x[rows], np.asarray(sim.simulate(key, theta[rows])))
    # realisations of one point differ (independent noise), theta repeats
    assert np.all(x[0::2] != x[1::2])
    m = json.loads((reference / "manifest.json").read_text())
    assert m["fingerprint"] == recipe.fingerprint and m["n_chunks"] == 5 and m["recipe_text"] == TEXT
    assert m["crinfer_version"] and m["created"] and m["seed"] == 8
    assert [r["chunk"] for r in meta["chunks"]] == list(range(5))


def test_status_and_rerun_is_a_no_op(recipe, reference):
    st = campaign_status(reference)
    assert st.complete and st.done == list(range(5)) and st.rows_done == 18 and not st.corrupt
    before = {p.name: p.stat().st_mtime_ns for p in (reference / "chunks").iterdir()}
    assert run_campaign(recipe, reference, progress=False).complete
    assert before == {p.name: p.stat().st_mtime_ns for p in (reference / "chunks").iterdir()}


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_kill_leftovers_and_corruption_are_detected_and_redone(recipe, reference, tmp_path):
    """What a kill -9 can leave (a temp file, an .npz without its record) is not 'done';
    a chunk whose bytes no longer match its record is 'corrupt'; resume redoes exactly those."""
    out = _copy(reference, tmp_path / "s")
    ch = out / "chunks"
    (ch / "c000001.json").unlink()                                  # killed between the two renames
    (ch / "c000002.json").unlink()
    (ch / "c000002.npz").rename(ch / ".c000002.npz.tmp-123-abcd")   # killed before the rename
    data = bytearray((ch / "c000003.npz").read_bytes())
    data[-40] ^= 1                                                  # a flipped bit on disk
    (ch / "c000003.npz").write_bytes(bytes(data))
    (ch / "c000004.npz").unlink()                                   # file lost, record kept

    st = campaign_status(out)
    assert st.done == [0] and st.missing == [1, 2] and sorted(st.corrupt) == [3, 4]
    assert "sha256" in st.corrupt[3] and "c000004.npz is missing" in st.corrupt[4]
    assert st.temp_files == ["chunks/.c000002.npz.tmp-123-abcd"] and not st.complete
    with pytest.raises(CampaignError, match=r"incomplete: 1/5 chunks done, missing \[1, 2\]"):
        load_dataset(out)
    theta_p, _, meta_p = load_dataset(out, partial=True)
    np.testing.assert_array_equal(meta_p["row"], np.arange(4))

    written0 = json.loads((ch / "c000000.json").read_text())["written"]
    run_campaign(recipe, out, progress=False)
    st = campaign_status(out)
    assert st.complete and not st.temp_files
    assert json.loads((ch / "c000000.json").read_text())["written"] == written0  # skipped, not redone
    for a, b in zip(load_dataset(out)[:2], load_dataset(reference)[:2]):
        np.testing.assert_array_equal(a, b)
    for c in range(5):  # byte-identical chunk files: same checksums as the uninterrupted run
        assert (ch / f"c{c:06d}.npz").read_bytes() == (reference / "chunks" / f"c{c:06d}.npz").read_bytes()


def test_refuses_other_recipe_and_foreign_directory(recipe, reference, tmp_path):
    other = Recipe.from_text(TEXT.replace("seed = 8", "seed = 9"))
    with pytest.raises(CampaignError, match="was made by a different recipe"):
        run_campaign(other, reference, progress=False)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("precious")
    with pytest.raises(CampaignError, match=r"not empty and is not a campaign store \(found \['notes.txt'\]\)"):
        run_campaign(recipe, foreign, progress=False)
    assert (foreign / "notes.txt").read_text() == "precious"
    with pytest.raises(CampaignError, match="is not a campaign store"):
        campaign_status(tmp_path)
    with pytest.raises(ConfigurationError, match=r"no output directory"):
        run_campaign(recipe, None, progress=False)


def test_store_path_from_recipe_and_empty_dir_accepted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pre").mkdir()
    r = Recipe.from_text(TEXT + '[store]\npath = "pre"\n')
    assert run_campaign(r, progress=False).complete
    assert Store.open(tmp_path / "pre").manifest["n_rows"] == 18


def test_non_finite_simulator_output_is_refused(tmp_path):
    from crinfer.campaign import register_simulator

    class NaNToy(GaussianToy):
        def simulate(self, key, theta):
            x = np.array(super().simulate(key, theta))
            x[1, 2] = np.nan
            return x

    register_simulator("test.nan_toy", NaNToy, overwrite=True)
    r = Recipe.from_text(TEXT.replace('"toy.gaussian"', '"test.nan_toy"'))
    with pytest.raises(CampaignError, match=r"chunk 0: simulator 'test.nan_toy' returned a non-finite value "
                                            r"in chunk row 1"):
        run_campaign(r, tmp_path / "s", progress=False)
    assert campaign_status(tmp_path / "s").done == []


def test_executor_options_and_jobqueue_error(monkeypatch):
    with pytest.raises(ConfigurationError, match=r"option\(s\) \['n_workers'\] need executor='dask'"):
        make_executor("local", n_workers=2)
    with pytest.raises(ConfigurationError, match="unknown executor 'mpi'"):
        make_executor("mpi")
    monkeypatch.setitem(__import__("sys").modules, "dask_jobqueue", None)
    with pytest.raises(CampaignError, match=r"need the 'dask-jobqueue' package: pip install dask-jobqueue"):
        jobqueue_cluster("slurm", cores=1, memory="1GB")


def test_cli_run_and_status(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text(TEXT)
    runner = CliRunner()
    res = runner.invoke(campaign_app, ["run", str(path), "--out", str(tmp_path / "s"), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "5/5 chunks, 18 rows" in res.output
    res = runner.invoke(campaign_app, ["status", str(tmp_path / "s")])
    assert res.exit_code == 0 and "5/5" in res.output and "18/18" in res.output
    f = tmp_path / "s" / "chunks" / "c000001.npz"
    f.write_bytes(f.read_bytes()[:-1])
    res = runner.invoke(campaign_app, ["status", str(tmp_path / "s")])
    assert res.exit_code == 1 and "sha256" in res.output
    res = runner.invoke(campaign_app, ["run", str(path), "--out", str(tmp_path / "s"), "--n-workers", "2"])
    assert res.exit_code != 0 and "need --executor dask" in res.output
    bad = tmp_path / "bad.toml"
    bad.write_text(TEXT.replace('"toy.gaussian"', '"toy.nope"'))
    res = runner.invoke(campaign_app, ["run", str(bad), "--out", str(tmp_path / "t")])
    assert res.exit_code == 2 and "unknown simulator 'toy.nope'" in res.output
