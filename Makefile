# Two commands: `make run` (demo cohort end to end) and `make test` (the test suite).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
CORES  ?= all
CONFIG ?= config/config.yaml

.PHONY: run test venv lint bench clean demo-data

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/balint-analysis run --config $(CONFIG) --cores $(CORES)

# One pytest-xdist worker per core; each test file stays in one worker (its module fixtures,
# e.g. one end-to-end run, are made once), the SLURM tests share one (xdist_group "slurm"),
# the slowest files start first (tests/conftest.py, SLOWEST_FILES).
test: $(STAMP)
	$(PY) -m pytest -n auto --dist loadgroup --no-loadscope-reorder

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/snakefmt --check workflow/
	$(PY) -m snakemake --lint

demo-data: $(STAMP)
	$(PY) -m balint_analysis.cli simulate --preset demo --seed 20261125 --out data/raw/demo

# Performance suite (benchmarks/README.md): W1-W4, one table, benchmarks/results/*.json.
# make bench BENCH_ARGS=--quick | BENCH_ARGS="--compare old.json" | BENCH_ARGS="--only W1"
BENCH_ARGS ?=
bench: $(STAMP)
	$(PY) benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf .snakemake data/interim data/processed/demo reports/demo
