# Mentionflow: every set-up step lives here, so a fresh clone needs only `make run` / `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
STAMP := $(VENV)/.installed-$(shell sha256sum $(LOCK) pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export TOKENIZERS_PARALLELISM := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: help install encoder run demo test train bench lock clean

help:
	@echo "make run    - set up and start the long-running stack (broker, workers, Airflow)"
	@echo "make demo   - set up and run the bounded demo over the bundled sample"
	@echo "make test   - set up and run the whole test suite"
	@echo "make train  - retrain the classifier artifact and rewrite docs/evaluation"
	@echo "make bench  - print throughput figures"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the lock or the project metadata changes.
$(STAMP): $(BIN)/python $(LOCK) pyproject.toml
	$(BIN)/python -m pip install -q --upgrade "pip>=24" wheel "setuptools>=69"
	$(BIN)/python -m pip install -q -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

encoder: install
	$(BIN)/mentionflow build-encoder

run: encoder
	$(BIN)/mentionflow up

demo: encoder
	$(BIN)/mentionflow demo

test: encoder
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Re-split, retrain (fixed seed, 2 threads) and re-evaluate: rewrites the
# committed artifact and docs/evaluation, so `git diff` shows any drift.
train: encoder
	$(BIN)/python -m classifiers.data.split
	$(BIN)/python -m classifiers.train
	$(BIN)/mentionflow evaluate --split test

bench: encoder
	$(BIN)/python -m benchmarks.run

# Regenerate the lock from pyproject's ranges (then review the diff).
lock: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > $(LOCK)

clean:
	rm -rf var/run
