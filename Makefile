# Two commands a newcomer needs:  `make report` (the main job) and `make test` (the test suite).
# Both create the virtual environment .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
THREADS := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: setup test test-all report clean-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: these machines carry a CPU build of 2.13.0 (another torch pulls CUDA wheels)
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e ".[test]"
	# sbibm: tasks and reference posteriors only; its own pins would break sbi 0.27
	$(BIN)/pip install --no-deps sbibm==1.1.0
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(THREADS) $(BIN)/pytest

test-all: $(STAMP)
	$(THREADS) $(BIN)/pytest -m "not gpu"

report: $(STAMP)
	$(THREADS) $(BIN)/python experiments/sbibm_check.py --quick --out reports/sbibm_quick

clean-venv:
	rm -rf $(VENV)
