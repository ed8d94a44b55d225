# Two entry points (see README): `make run` and `make test`. Both create .venv when missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
export KEDRO_DISABLE_TELEMETRY := 1
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: setup run test viz ui benchmark-wells lock gpu-wheels

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

run: setup
	$(BIN)/kedro run --runner=ThreadRunner --runner-params max_workers=2

test: setup
	$(BIN)/python -m pytest

benchmark-wells: setup
	$(BIN)/kedro run --env=bbbc021_wells --pipelines=ingestion,psets,benchmark

viz: setup
	$(BIN)/kedro viz run --no-browser

# The MLflow runs of `make run` and every `kedro run` (conf/base/mlflow.yml), on 127.0.0.1:5000
# (kedro-mlflow starts the `mlflow` executable found on PATH: this venv's).
ui: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/kedro mlflow ui --host 127.0.0.1

lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu --no-header -o requirements.lock

# Keras and its dependencies missing on the GPU machine, as Python 3.12 wheels (see benchmarks/gpu_check.sh).
gpu-wheels:
	python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
	  --platform manylinux2014_x86_64 -d .whl keras==$$(grep -m1 '^keras==' requirements.lock | cut -d= -f3) namex optree
