# The two commands a newcomer runs (see README):
#   make quickstart   set up, then run sweeps/quick.yaml end to end
#   make test         set up, then run every test (what CI runs)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
FASHION_DIR := /usr/share/datasets/fashion-mnist

.PHONY: setup data quickstart test unit bench clean-results

setup: $(STAMP) data

# Debian ships venv separately (python3-venv); install it when ensurepip is missing.
$(STAMP): pyproject.toml
	@$(PYTHON) -c "import ensurepip" 2>/dev/null || { \
	  echo "installing python3-venv"; $(SUDO_APT) apt-get install -y python3-venv || \
	  { $(SUDO_APT) apt-get update && $(SUDO_APT) apt-get install -y python3-venv; }; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	@touch $(STAMP)

# Fashion-MNIST from Debian's package where apt is available; otherwise Keras downloads
# it on first use (and tunefm says so, with where it looked, if that fails too).
SUDO_APT := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
data:
	@if [ -f $(FASHION_DIR)/train-images-idx3-ubyte.gz ]; then \
	  echo "Fashion-MNIST: $(FASHION_DIR)"; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  $(SUDO_APT) apt-get install -y dataset-fashion-mnist || \
	  { $(SUDO_APT) apt-get update && $(SUDO_APT) apt-get install -y dataset-fashion-mnist; }; \
	else \
	  echo "no apt-get here: Fashion-MNIST will be downloaded by Keras on first use"; \
	fi

quickstart: setup
	$(BIN)/tunefm sweep sweeps/quick.yaml --report

test: setup
	$(BIN)/python -m pytest

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -q

# benchmarks (not part of CI): tunefm against the floor and its peers, 9-30 minutes on 2 cores
bench: setup
	$(BIN)/pip install --quiet -e ".[test,bench]"
	$(BIN)/python -m benchmarks.run --quick

clean-results:
	find results -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
