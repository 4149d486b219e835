# Two commands do all set-up on a machine with Python >= 3.11, pip and make:
#   make demo   creates .venv, installs planner, runs the demo scenario into maps/demo/
#   make test   creates .venv, installs planner with its test extra, runs the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint venv demo-data clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/planner run scenarios/demo.toml --out maps/demo

test: $(STAMP)
	$(BIN)/ruff check planner tests benchmarks
	$(BIN)/python -m pytest

# lint only (make test runs it first)
lint: $(STAMP)
	$(BIN)/ruff check planner tests benchmarks

# regenerate the embedded demo layers (they are committed; a test checks they match this output)
demo-data: $(STAMP)
	$(BIN)/planner demo-data --out layers/demo

clean:
	rm -rf $(VENV) maps/demo .pytest_cache
