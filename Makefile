# Two commands on a fresh machine, each doing its own set-up:
#   make demo   enhance the bundled photo and super-resolve the bundled face with the shipped default model
#   make test   run the test suite (what CI runs: .ci/run)
# Both install into .venv; `. .venv/bin/activate` (or .venv/bin/facesr) puts the `facesr` command on PATH.
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
TORCH = $(VENV)/.torch-installed
DEMO = $(VENV)/.facesr-demo
TEST = $(VENV)/.facesr-test

.PHONY: demo test test-all setup clean

# torch first, pinned: this takes the local CPU wheel instead of a multi-GB CUDA build
$(TORCH):
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	touch $(TORCH)

# the demo needs the package and face detection only
$(DEMO): pyproject.toml $(TORCH)
	$(BIN)/pip install -q -e '.[faces]'
	touch $(DEMO)

# the tests exercise every optional part
$(TEST): pyproject.toml $(TORCH)
	$(BIN)/pip install -q -e '.[all]'
	touch $(TEST)

setup: $(TEST)

demo: $(DEMO)
	$(BIN)/facesr demo -o demo_out

test: $(TEST)
	$(BIN)/python -m pytest -q

test-all: $(TEST)
	$(BIN)/python -m pytest -q -m "slow or not slow"

clean:
	rm -rf $(VENV) demo_out .pytest_cache
