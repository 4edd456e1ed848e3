# Two commands a newcomer needs: `make demo` runs the factory on the bundled example,
# `make test` runs the whole test suite. Both set up the virtual environment first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The real Claude Code CLI, pinned, for the integration tests (in .tools/, git-ignored).
CLAUDE_VERSION := 2.1.332
CLAUDE := .tools/node_modules/.bin/claude
HAVE_NPM := $(shell command -v npm >/dev/null 2>&1 && echo 1)

.PHONY: setup tools demo test bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,ray]'
	touch $(STAMP)

demo: setup
	$(BIN)/factory demo

# With npm on the machine the CLI is installed and its tests must run (a failure to install
# fails the build); without npm they are skipped, visibly. bubblewrap (the agents' sandbox)
# is installed where we can (root with apt); where it runs, the sandbox tests must run too.
tools:
	@command -v bwrap >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		{ apt-get install -y -q bubblewrap >/dev/null 2>&1 || \
		  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q bubblewrap >/dev/null; }; }; } || \
		echo "bubblewrap could not be installed: the agents' sandbox tests will be skipped"
ifeq ($(HAVE_NPM),1)
	@test -x $(CLAUDE) && $(CLAUDE) --version | grep -q "^$(CLAUDE_VERSION) " || \
		npm install --prefix .tools --no-audit --no-fund --loglevel=error \
			@anthropic-ai/claude-code@$(CLAUDE_VERSION)
else
	@echo "npm not found: the Claude Code integration tests will be skipped"
endif

test: setup tools lint
	FACTORY_REQUIRE_CLAUDE=$(HAVE_NPM) \
	FACTORY_REQUIRE_SANDBOX=$$(command -v bwrap >/dev/null 2>&1 && echo 1) \
	$(BIN)/python -m pytest -n auto

bench: setup
	$(BIN)/python benchmarks/cycle_overhead.py
	$(BIN)/python benchmarks/tui_stream.py
	$(BIN)/python benchmarks/key_latency.py
	$(BIN)/python benchmarks/eval_speed.py
	$(BIN)/python benchmarks/plateau_loop.py
	$(BIN)/python benchmarks/sandbox_cost.py
	$(BIN)/python benchmarks/history_scale.py
	$(BIN)/python benchmarks/filter_latency.py

# Style, the layer contracts (pyproject's [tool.importlinter]) and strict types.
lint: setup
	$(BIN)/ruff check factory_tui tests benchmarks
	$(BIN)/ruff format --check factory_tui tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy factory_tui

clean:
	rm -rf $(VENV) .pytest_cache .tools
