# Two commands set everything up on a fresh machine: `make run` and `make test`.
# torch is installed first and pinned, so pip never resolves a multi-GB CUDA build.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip -q --disable-pip-version-check
TORCH  := torch==2.13.0
HOST   ?= 127.0.0.1
PORT   ?= 7860

export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_DISABLE_TELEMETRY := 1
HF_HUB_OFFLINE ?= 1
export HF_HUB_OFFLINE


.PHONY: run test test-fast bench lint browser clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.stamp-torch: | $(PY)
	$(PIP) install $(TORCH)
	touch $@

$(VENV)/.stamp-install: pyproject.toml $(VENV)/.stamp-torch
	$(PIP) install -e .
	touch $@

$(VENV)/.stamp-dev: pyproject.toml $(VENV)/.stamp-install
	$(PIP) install -e ".[dev]"
	touch $@

# Debian's Chromium for the browser tests (never `playwright install`).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "browser tests need Debian's chromium: sudo apt-get install chromium chromium-driver" >&2; exit 1; fi; }

run: $(VENV)/.stamp-install
	$(VENV)/bin/empathy-studio serve --host $(HOST) --port $(PORT)

test: $(VENV)/.stamp-dev browser
	$(PY) -m pytest -q -p no:cacheprovider

test-fast: $(VENV)/.stamp-dev
	$(PY) -m pytest -q -p no:cacheprovider -m "not integration and not browser"

bench: $(VENV)/.stamp-dev
	$(PY) bench/store.py
	$(PY) bench/training.py

# ruff's checks (pyflakes, pycodestyle errors, line length, import order) and its formatter, as pyproject.toml sets them
lint: $(VENV)/.stamp-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) .cache test-artifacts
