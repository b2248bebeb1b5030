# Two commands do all the set-up on a fresh machine with only Python 3.11+ on it:
#   make serve   installs on first use, then runs the emulator on http://127.0.0.1:8000
#   make test    installs on first use, then runs the whole test suite (lint included)
#   make docs    builds the documentation site (docs/) into site/
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: serve test test-all lint bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/imagegen-emulator serve $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check emulator contracts clients tests bench examples docs/hooks

test: lint
	$(BIN)/pytest -n auto -m "not slow" $(ARGS)

test-all: lint
	$(BIN)/pytest -n auto $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

# The documentation site (mkdocs.yml, docs/) into site/; strict: a broken link fails the build.
# NO_MKDOCS_2_WARNING: Material's banner about MkDocs 2.0, printed on every build, not a warning
# about these pages.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache .ruff_cache .hypothesis
