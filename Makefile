# Set-up and everyday commands. `make test` and `make site` each create .venv on first use.
#
# CPU machines install torch through constraints/cpu.txt (a CPU wheel, not a multi-GB CUDA
# build). With a GPU, install your torch into .venv first and run `make test CONSTRAINTS=`.

PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= -c constraints/cpu.txt
BIN := $(VENV)/bin
export NO_MKDOCS_2_WARNING := 1

.PHONY: test verify site serve lint slow faults thorough mutation benchmarks clean

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

## Run every catalogued faulty implementation through verify/ and check each is caught.
faults: $(VENV)/.installed
	$(BIN)/pytest tests/test_fault_catalogue.py -m slow

## The whole suite with ten times the ci examples (random, not derandomized).
thorough: $(VENV)/.installed
	HYPOTHESIS_PROFILE=thorough $(BIN)/pytest verify/ tests/ --efx-report=reports/verify-thorough.json

## Mutation testing of the core numerical modules (about half an hour on 2 cores); see docs/mutation.md.
mutation: $(VENV)/.installed
	$(BIN)/pip install --quiet mutmut==3.8.1
	rm -rf mutants
	start=$$(date +%s); \
	HYPOTHESIS_PROFILE=ci OMP_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2 && \
	$(BIN)/python scripts/mutation_results.py --wall-time "$$(( ($$(date +%s) - start) / 60 )) min"
	$(BIN)/mutmut results

## Speed and memory benchmarks; each prints JSON.
benchmarks: $(VENV)/.installed
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/checkpointing.py
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/lowrank.py

lint: $(VENV)/.installed
	$(BIN)/ruff check efx verify tests benchmarks
	$(BIN)/ruff format --check efx verify tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) site reports .hypothesis
