# Every target bootstraps .venv itself: a fresh clone needs only python3 (>= 3.11).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint fmt typecheck wheel-check bench clean screenshots docs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,postgres,s3]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m labelport.demo

test: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

fmt: $(STAMP)
	$(BIN)/ruff check --fix src tests bench tools
	$(BIN)/ruff format src tests bench tools

# The generated pages: docs/cli.md from --help, the code table of docs/problems.md from the
# catalogue, the formats table of docs/convert.md and the README's list of formats from FORMATS
# (tests/test_docs.py fails while any of them is out of date).
docs: $(STAMP)
	$(BIN)/python tools/cli_reference.py
	$(BIN)/python tools/doc_tables.py

# mypy over src/labelport with the settings in pyproject.toml ([tool.mypy]).
typecheck: $(STAMP)
	$(BIN)/mypy

# The wheel as users install it: built, checked, installed into a clean venv and run.
wheel-check: $(STAMP)
	$(BIN)/python tools/wheel_check.py

# Pictures of the pages for the README (needs Debian's chromium: apt-get install chromium).
screenshots: $(STAMP)
	$(BIN)/python -m labelport.web.screenshots docs/screenshots

bench: $(STAMP)
	$(BIN)/python bench/format_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache build src/*.egg-info
