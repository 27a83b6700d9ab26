# Two commands a newcomer needs:  `make report` (the main job) and `make test` (the test suite).
# Both create the virtual environment .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
THREADS := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
# pip only bootstraps uv (from PyPI); uv installs the ~95 packages in minutes where pip took over
# half an hour on 2 cores (measured in docs/benchmarks.md). --system-certs: the platform's CA store.
PIP    := PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 $(BIN)/pip
UV     := $(BIN)/uv pip install --python $(BIN)/python --system-certs
# torch pinned: these machines carry the CPU build of 2.13.0 in /opt/wheels (another torch pulls CUDA wheels)
TORCH  := $(if $(wildcard /opt/wheels/torch-2.13.0+cpu*),--find-links /opt/wheels torch==2.13.0+cpu,torch==2.13.0)

.PHONY: setup test test-all report clean-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --progress-bar off --no-compile uv==0.13.8
	$(UV) $(TORCH) -e ".[test]"
	# sbibm: tasks and reference posteriors only; its own pins would break sbi 0.27
	$(UV) --no-deps sbibm==1.1.0
	touch $(STAMP)

setup: $(STAMP)

# one worker per core (pytest-xdist), each test file on one worker (its module fixtures built once)
test: $(STAMP)
	$(THREADS) $(BIN)/pytest -n auto --dist loadfile --no-loadscope-reorder

test-all: $(STAMP)
	$(THREADS) $(BIN)/pytest -n auto --dist loadfile --no-loadscope-reorder -m "not gpu"

report: $(STAMP)
	$(THREADS) $(BIN)/python experiments/fit_electrons.py --quick --out reports/electrons_quick

clean-venv:
	rm -rf $(VENV)
