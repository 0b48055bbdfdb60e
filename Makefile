# Two entry points do all set-up on a fresh machine:
#   make test   installs everything tests need into .venv, then runs ruff, mypy and pytest
#   make demo   builds the example project with a real build backend and runs trustpub on it
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: test demo lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict src/trustpub

pytest: $(STAMP)
	$(PY) -m pytest -q

test: lint typecheck pytest

demo: $(STAMP)
	rm -rf examples/demo/dist
	$(PY) -m build --no-isolation --outdir examples/demo/dist examples/demo
	$(VENV)/bin/trustpub rehearse examples/demo/dist

bench: $(STAMP)
	$(PY) bench/check
	$(PY) bench/attest
	$(PY) bench/upload

clean:
	rm -rf $(VENV) examples/demo/dist bench/.work .pytest_cache .mypy_cache .ruff_cache
