# Two commands on a fresh machine:  make serve  (the main job)  and  make test.
# Each creates its own virtual environment and installs only what it needs.
PYTHON ?= python3
TORCH ?= torch==2.13.0
SERVE_VENV := .venv-serve
DEV_VENV := .venv

.PHONY: proto serve test test-serve test-train lint typecheck bench bench-smoke bench-peers bench-peers-smoke image-test mixture models clean

$(SERVE_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(SERVE_VENV)
	$(SERVE_VENV)/bin/pip install -q -e '.[serve]'
	touch $@

# Install torch first so the `train` extra's torch>=... is already met by the CPU build.
$(DEV_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(DEV_VENV)
	$(DEV_VENV)/bin/pip install -q $(TORCH)
	$(DEV_VENV)/bin/pip install -q -e '.[serve,train,dev]'
	touch $@

serve: $(SERVE_VENV)/.installed  ## serve models/ on :8000
	$(SERVE_VENV)/bin/ali-serve

test: $(DEV_VENV)/.installed  ## the whole test suite (CPU)
	$(DEV_VENV)/bin/python -m pytest

# The serving tests again in an environment without torch (serve + dev extras only).
SERVE_TEST_VENV := .venv-serve-test
$(SERVE_TEST_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(SERVE_TEST_VENV)
	$(SERVE_TEST_VENV)/bin/pip install -q -e '.[serve,dev]'
	touch $@

test-serve: $(SERVE_TEST_VENV)/.installed
	$(SERVE_TEST_VENV)/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)"
	$(SERVE_TEST_VENV)/bin/python -m pytest tests/service tests/reliability tests/deploy tests/test_readme.py

# Training with its own extra alone (no serve, no dev): torch first, then '.[train]' and pytest.
# Every training module must import without the server's dependencies, and the training tests
# (ali-eval mnist on tiny data among them) must pass there.
TRAIN_VENV := .venv-train
$(TRAIN_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/pip install -q $(TORCH)
	$(TRAIN_VENV)/bin/pip install -q -e '.[train]' pytest pytest-asyncio
	touch $@

test-train: $(TRAIN_VENV)/.installed
	$(TRAIN_VENV)/bin/python -c "import importlib.util as u, sys; bad = [m for m in ('fastapi', 'pydantic_settings', 'uvicorn') if u.find_spec(m)]; sys.exit(f'serve packages in the train venv: {bad}' if bad else 0)"
	$(TRAIN_VENV)/bin/python -c "import importlib, pkgutil, training; [importlib.import_module(m.name) for m in pkgutil.walk_packages(training.__path__, 'training.')]"
	$(TRAIN_VENV)/bin/python -m pytest tests/training

lint: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/ruff check .
	$(DEV_VENV)/bin/ruff format --check .
	$(DEV_VENV)/bin/lint-imports

typecheck: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/mypy runtime service

# Build the cpu image and the gpu target's recipe with podman on a local Debian base, run them and
# the compose file's cpu profile, and check them (deploy/image-test.sh; root, no Docker Hub).
image-test:
	bash deploy/image-test.sh

# The gRPC code the service imports, generated from its .proto (committed: the image has no
# compiler; tests/service/test_grpc_generated.py fails when it is stale).
proto: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. service/grpc_api/inference.proto

bench: $(DEV_VENV)/.installed  ## full benchmark (~15 min): BENCHMARKS.md + bench/results.json
	$(DEV_VENV)/bin/python -m bench.run
	$(DEV_VENV)/bin/python -m bench.samplers
	$(DEV_VENV)/bin/python -m bench.tracing
	$(DEV_VENV)/bin/python -m bench.swaps

bench-smoke: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/python -m bench.run --smoke --out /tmp/ali-bench-smoke
	$(DEV_VENV)/bin/python -m bench.tracing --smoke
	$(DEV_VENV)/bin/python -m bench.swaps --smoke

# The service against Triton (PyTriton), LitServe, Ray Serve, mosec and BentoML, each installed by
# the bench into .venv-peers/<name> (~9 min, plus ~5 min of installs the first time).
bench-peers: $(DEV_VENV)/.installed
	command -v wrk >/dev/null || apt-get install -y -qq wrk
	command -v h2load >/dev/null || apt-get install -y -qq nghttp2-client nghttp2-server
	$(DEV_VENV)/bin/python -m bench.peers
	$(DEV_VENV)/bin/python -m bench.grpc_peers

bench-peers-smoke: $(DEV_VENV)/.installed
	command -v wrk >/dev/null || apt-get install -y -qq wrk
	$(DEV_VENV)/bin/python -m bench.peers --smoke

mixture: $(DEV_VENV)/.installed  ## the paper's 25-Gaussian experiment, 10 seeds
	$(DEV_VENV)/bin/ali-eval mixture --seeds 10 --out results/mixture

clean:
	rm -rf $(SERVE_VENV) $(DEV_VENV) $(SERVE_TEST_VENV) $(TRAIN_VENV) .pytest_cache .ruff_cache .mypy_cache

MNIST ?= ../shared/datasets/mnist.npz
# Retrain, export and evaluate the two shipped models (~70 min for mnist on both cores, ~77 min
# for mnist-cond on one thread, the settings in their model cards; ~2 h 45 min in all).
models: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/ali-train --preset mnist --data $(MNIST) --out runs/mnist --seed 0 --threads 2 --quiet
	$(DEV_VENV)/bin/ali-train --preset mnist-cond --data $(MNIST) --out runs/mnist-cond --seed 0 --threads 1 --quiet
	$(DEV_VENV)/bin/ali-export runs/mnist/checkpoint.pt --name mnist --out models/
	$(DEV_VENV)/bin/ali-export runs/mnist-cond/checkpoint.pt --name mnist-cond --out models/
	$(DEV_VENV)/bin/ali-eval mnist --model models/mnist --data $(MNIST) --write
	$(DEV_VENV)/bin/ali-eval mnist --model models/mnist-cond --data $(MNIST) --write
