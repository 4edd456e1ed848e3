# Two commands a newcomer needs: `make demo` runs the factory on the bundled example,
# `make test` runs the whole test suite. Both set up the virtual environment first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/factory demo

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/cycle_overhead.py
	$(BIN)/python benchmarks/tui_stream.py
	$(BIN)/python benchmarks/eval_speed.py

lint: setup
	$(BIN)/ruff check factory_tui tests benchmarks
	$(BIN)/ruff format --check factory_tui tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache
