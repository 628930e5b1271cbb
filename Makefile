# Set-up and everyday commands. `make test` and `make site` each create .venv on first use.
#
# CPU machines install torch through constraints/cpu.txt (a CPU wheel, not a multi-GB CUDA
# build). With a GPU, install your torch into .venv first and run `make test CONSTRAINTS=`.

PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= -c constraints/cpu.txt
BIN := $(VENV)/bin
export NO_MKDOCS_2_WARNING := 1

.PHONY: test verify site serve lint slow clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml constraints/cpu.txt | $(BIN)/python
	$(BIN)/pip install --quiet $(CONSTRAINTS) -e '.[docs,dev]'
	touch $@

## Run every check: the claims (verify/) and efx's unit tests (tests/).
test: $(VENV)/.installed
	$(BIN)/pytest verify/ tests/

## Run only the claims' checks.
verify: $(VENV)/.installed
	$(BIN)/pytest verify/

## Run the claims' checks, then build the site from that run's report.
site: verify
	$(BIN)/mkdocs build --strict

## Serve the site at http://127.0.0.1:8000 after running the claims' checks.
serve: verify
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

## Checks too slow for the ci budget.
slow: $(VENV)/.installed
	$(BIN)/pytest verify/ tests/ -m slow

lint: $(VENV)/.installed
	$(BIN)/ruff check efx verify tests benchmarks
	$(BIN)/ruff format --check efx verify tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) site reports .hypothesis
