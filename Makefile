# The two commands of the README's quick start, and the checks CI runs.
#   make demo   set up .venv (Python 3.12, locked dependencies) and run `margin demo`
#   make test   set up .venv and run lint, types and the test suite
.PHONY: setup demo test test-slow lint typecheck pytest browser lock clean

VENV ?= .venv
BIN := $(VENV)/bin

setup:
	@scripts/setup.sh

demo: setup
	$(BIN)/margin demo

test: setup lint typecheck pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

pytest: browser
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

# Debian's Chromium for the Playwright browser tests (no-op when one is installed).
browser:
	@scripts/browser.sh

# Long model fits (minutes each): run before a release, not in every CI run.
test-slow: setup
	$(BIN)/pytest -m slow $(PYTEST_ARGS)

# Regenerate requirements.lock after changing pyproject.toml dependencies.
lock: setup
	$(BIN)/python -m pip install --quiet "uv==0.13.9"
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra spark --universal --python-version 3.12 -o requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
