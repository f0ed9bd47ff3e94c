# The two commands of the README:
#   make demo   set everything up (JupyterLab included) and run the main job on the bundled tasks, local model
#   make test   set everything up and run the tests (nbdev-test, then pytest)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_PROMPTS := --prompt summarize@v1.0.0 --prompt summarize@v1.1.0 --prompt explain@v1.0.0 --prompt explain@v1.1.0

.PHONY: setup test-tools demo test lab ui bench
setup: $(VENV)/.installed

# constraints.txt pins what this machine needs (the CPU torch on disk, MLflow 3.17.2); pyproject.toml stays loose.
# llama-cpp-python compiles on first install. A native build (-march=native) crashed on a Xeon with AMX; this one
# targets AVX2, which any x86-64 CPU since 2013 runs. pip caches the wheel, so only the first set-up compiles.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -qq -c constraints.txt -e ".[lab,dev]"
	touch $@

# Only the tests need these, so `make demo` needs Python alone. The deploy tests check the rendered manifests with
# promtool and with the CRD schemas in tests/k8s (npm ci). promtool comes from Debian's prometheus package, whose
# install starts a Prometheus server on :9090 and enables it at boot: a policy-rc.d that refuses (unless the machine
# has one; containers do) stops the start, update-rc.d the boot.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
POLICY_RC := /usr/sbin/policy-rc.d
# The review page's browser test drives Debian's Chromium through Playwright, which never downloads a browser here.
test-tools: tests/k8s/node_modules/.installed
	@if ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; } && command -v apt-get >/dev/null; then \
	  $(SUDO) apt-get update -qq \
	  && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
	    chromium-driver; \
	fi
tests/k8s/node_modules/.installed: tests/k8s/package-lock.json
	@if ! command -v promtool >/dev/null && command -v apt-get >/dev/null; then \
	  if [ ! -e $(POLICY_RC) ]; then \
	    trap '$(SUDO) rm -f $(POLICY_RC)' EXIT; \
	    printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee $(POLICY_RC) >/dev/null; $(SUDO) chmod +x $(POLICY_RC); \
	  fi; \
	  $(SUDO) apt-get update -qq \
	  && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus \
	  && $(SUDO) update-rc.d prometheus disable >/dev/null; \
	fi
	npm ci --prefix tests/k8s --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(BIN)/llmops-wb eval $(DEMO_PROMPTS)
	$(BIN)/llmops-wb eval compare summarize@v1.0.0 summarize@v1.1.0
	$(BIN)/llmops-wb eval compare explain@v1.0.0 explain@v1.1.0

test: setup test-tools
	$(BIN)/ruff check nbs tests bench
	$(BIN)/nbdev-test --n-workers 2 --flags model --skip-folder-re '^(tutorials|runbooks)$$'
	@# the tutorial records its runs in the project's store; under test they go to a throwaway one
	store=$$(mktemp -d) && LLMOPS_WB_TRACKING_URI=sqlite:///$$store/mlflow.db \
	  LLMOPS_WB_TRACKING_ARTIFACTS=$$store/mlartifacts LLMOPS_WB_EVALUATE_CACHE_DIR=$$store/cache \
	  $(BIN)/nbdev-test --flags model nbs/tutorials
	$(BIN)/pytest -q

lab: setup
	$(BIN)/jupyter lab --no-browser --ip 127.0.0.1 $(if $(filter 0,$(shell id -u)),--allow-root) nbs/

ui: setup
	$(BIN)/llmops-wb ui

bench: setup
	$(BIN)/python bench/run_all.py
