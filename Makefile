# Two entry points do all set-up on a fresh machine:
#   make test   installs everything tests need into .venv, then runs ruff, mypy, the docs build and pytest
#   make demo   builds the example project with a real build backend and runs trustpub on it
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: test demo lint layers typecheck pytest docs bench clean action-lock

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

# The import contracts in pyproject.toml [tool.importlinter]: the local world imports no
# client rules, the library never imports the CLI, no import cycles.
layers: $(STAMP)
	$(VENV)/bin/lint-imports --no-logo --no-cache

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict src/trustpub

pytest: $(STAMP)
	$(PY) -m pytest -q

# The documentation site (docs/, Sphinx) into docs/_build/html; warnings are errors, so a
# broken reference, a malformed docstring or a missing page fails `make test`. No network.
docs: $(STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html

test: lint layers typecheck docs pytest

demo: $(STAMP)
	rm -rf examples/demo/dist
	$(PY) -m build --no-isolation --outdir examples/demo/dist examples/demo
	$(VENV)/bin/trustpub rehearse examples/demo/dist

# Every benchmark (start-up, check, attest, upload, scale) and bench/RESULTS.md; not part of
# `make test`. About 10-15 minutes; `$(PY) bench/run --quick` checks the scripts in two.
bench: $(STAMP)
	$(PY) bench/run

# The GitHub Action's lock (action/requirements.txt): .venv's tested versions, with the
# hashes of every wheel of each (all platforms); asks PyPI for them. Not part of `make test`.
action-lock: $(STAMP)
	$(PY) action/lock

clean:
	rm -rf $(VENV) examples/demo/dist bench/.work docs/_build .pytest_cache .mypy_cache .ruff_cache
