# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test build lint bench screenshots pot clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

## run: set up, build the catalog into the database, start the app on http://localhost:$(PORT)
## (the launcher warms the caches before serving, so the first page comes quickly; the photo-match
## index is built by the app in the background; tracked files are never written, only var/)
run: $(VENV)/.runtime-installed
	$(BIN)/python -m ordnance_db build --no-index
	$(BIN)/python -m ordnance_db.serve run app.py --server.port $(PORT)

## build: validate the catalog and rebuild the derived database
build: $(VENV)/.runtime-installed
	$(BIN)/python -m ordnance_db validate
	$(BIN)/python -m ordnance_db build

## test: set up, lint, check formatting, run every test
test: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

## screenshots: retake the README's screenshots in docs/screenshots/ (real Chromium; `make test` leaves them alone)
screenshots: $(VENV)/.dev-installed
	ORDNANCE_SCREENSHOTS_DIR=docs/screenshots $(BIN)/python -m pytest -q tests/test_browser.py

## bench: run every benchmark and print its figures
bench: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/run_all.py

## pot: re-extract every interface string into ordnance_db/locale/app.pot (after adding or changing one)
pot: $(VENV)/.runtime-installed
	$(BIN)/python -m ordnance_db.i18n extract

clean:
	rm -rf var .pytest_cache .ruff_cache
