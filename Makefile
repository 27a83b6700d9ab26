# Two commands a newcomer needs:  `make report` (the main job) and `make test` (the test suite).
# Both create the virtual environment .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
THREADS := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
# quiet, non-interactive pip that never asks the index for its own newer version; no byte-compiling
# of every installed file (torch alone has thousands): Python compiles what it imports, once
PIP    := PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 $(BIN)/pip
PIPOPT := --progress-bar off --no-compile

.PHONY: setup test test-all report clean-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: these machines carry a CPU build of 2.13.0 (another torch pulls CUDA wheels)
	$(PIP) install $(PIPOPT) torch==2.13.0
	$(PIP) install $(PIPOPT) -e ".[test]"
	# sbibm: tasks and reference posteriors only; its own pins would break sbi 0.27
	$(PIP) install $(PIPOPT) --no-deps sbibm==1.1.0
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
