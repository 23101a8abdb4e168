# Two commands a newcomer needs:  `make demo`  and  `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch/torchvision: the regular PyPI pair. `--isolated` ignores any local wheel mirror that would hand us a
# CPU-only torch which the PyPI torchvision cannot load.
TORCH_PINS := torch==2.13.0 torchvision==0.28.0

.PHONY: setup demo test lint bench browser redis clean discord slack gpu-check worker

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --isolated -q --upgrade pip
	$(BIN)/pip install --isolated -q $(TORCH_PINS)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Debian's Chromium for the browser tests (Playwright cannot download its own browser offline).
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

# Debian's redis-server for the queue tests (tests/test_queue*.py start their own on a free loopback port).
redis:
	@if ! command -v redis-server >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; \
	fi

demo: $(STAMP)
	$(BIN)/python -m demo

discord: $(STAMP)
	$(BIN)/python -m bots.discord

slack: $(STAMP)
	$(BIN)/python -m bots.slack

worker: $(STAMP)
	$(BIN)/python -m nst_core.worker

test: $(STAMP) browser redis
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -ra --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/bench_gatys.py

# One-shot GPU check (bench/gpu_check.py): on a GPU machine its own python3 (with torch) runs it when there is no
# .venv; the VGG-19 comes from NST_VGG19_WEIGHTS or VGG=path. Results in GPU_OUT (gpu_check.json + log).
GPU_OUT ?= artifacts/gpu_check
GPU_PY := $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PY))
gpu-check:
	$(GPU_PY) bench/gpu_check.py --out $(GPU_OUT) $(if $(VGG),--vgg-weights $(VGG))

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
