"""Test configuration: one BLAS/torch thread (two are ~6x slower on 2-core machines), no GPU needed."""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

# One XLA compilation cache for the run, shared by its pytest-xdist workers (they inherit the
# controller's environment): tests that jit the same program in other closures -- the PINN tests'
# L-BFGS steps, residuals and Adam steps -- compile it once (on a 2-core machine one such
# compilation takes 30-60 s). The controller makes the folder and removes it at the end.
if "CRINFER_TEST_XLA_CACHE" not in os.environ:
    import tempfile

    os.environ["CRINFER_TEST_XLA_CACHE"] = tempfile.mkdtemp(prefix="crinfer-test-xla-cache-")
    _OWN_XLA_CACHE = os.environ["CRINFER_TEST_XLA_CACHE"]
else:
    _OWN_XLA_CACHE = None
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.environ["CRINFER_TEST_XLA_CACHE"])

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def experiment_module():
    """Loader of a script in experiments/ as a module: experiment_module("fit_electrons")."""
    import importlib.util
    from pathlib import Path

    def load(name):
        path = Path(__file__).resolve().parents[1] / "experiments" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def unoptimised_xla():
    """XLA's optimisation passes off during a test (``jax_disable_most_optimizations``): the PINN
    tests run tiny programs whose nested-JVP residuals take 30-60 s each to compile; unoptimised,
    one L-BFGS step of a tiny problem compiles in 34 s instead of 44 s, and the three
    tests/test_pinn*.py files took 812 s on one core where two of them had taken 860 s optimised
    (2026-12-07, docs/benchmarks.md session 42); their assertions hold either way. Not for
    comparisons with figures computed by optimised programs (the shipped model cards): float32
    rounding moves those by ~4e-4 relative."""
    import jax

    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", before)


def _has_gpu() -> bool:
    return torch.cuda.is_available()


# The longest test files, longest first, by their seconds on one core of a 2-core machine
# (`make test --durations=40`, 2026-12-07): 346, 215, 199, 189, 68, 49, 40, 35 s; the rest take
# < 30 s each. pytest-xdist hands each worker whole files (--dist loadfile) in collection order
# when `make test` passes --no-loadscope-reorder (its default orders files by their number of
# tests, which put the 200-350 s files last and left one worker running them while the other
# idled); so the collection starts with the longest files.
LONGEST_FILES = ("test_pinn_train.py", "test_pinn_recipe.py", "test_fit_electrons.py", "test_pinn.py",
                 "test_sbibm_check.py", "test_secret_eval.py", "test_made.py", "test_cre_fit.py")


def _file_rank(item) -> int:
    name = item.path.name
    return LONGEST_FILES.index(name) if name in LONGEST_FILES else len(LONGEST_FILES)


def pytest_collection_modifyitems(config, items):
    items.sort(key=_file_rank)      # stable: the order within a file and among the rest is kept
    if _has_gpu():
        return
    skip = pytest.mark.skip(reason="needs a GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


_exit_status = 0


def pytest_sessionfinish(session, exitstatus):
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Leave without interpreter finalisation once every report is written: after a full run,
    tearing down the thousands of compiled XLA/torch objects kept the process busy for over
    8 minutes on a 2-core machine (2026-11-23), enough to push CI past its limit."""
    import shutil
    import sys

    if _OWN_XLA_CACHE:     # the controller's (workers inherit the folder and leave it)
        shutil.rmtree(_OWN_XLA_CACHE, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)
