# The two Quick start commands (README). Both set up .venv/ first (idempotent) and then run.
PYTEST_ARGS ?=

.PHONY: smoke test lint

smoke:  ## set up, then run the benchmark suite at smoke sizes on the embedded default
	@scripts/setup.sh
	.venv/bin/pytest -m smoke $(PYTEST_ARGS)

test:  ## set up with dev tools, then lint and run the project's own tests
	@scripts/setup.sh --dev
	.venv/bin/ruff check .
	.venv/bin/pytest $(PYTEST_ARGS)

lint:
	.venv/bin/ruff check .
