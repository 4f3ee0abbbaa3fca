# The two Quick start commands (README). Both set up .venv/ first (idempotent) and then run.
PYTEST_ARGS ?=
# pinned to this checkout's rootdir and pyproject.toml, wherever the paths in PYTEST_ARGS point
PYTEST = .venv/bin/pytest --rootdir="$(CURDIR)" --config-file="$(CURDIR)/pyproject.toml"

.PHONY: smoke test lint

smoke:  ## set up, then run the benchmark suite at smoke sizes on the embedded default
	@scripts/setup.sh
	$(PYTEST) -m smoke $(PYTEST_ARGS)

test:  ## set up with dev tools, then lint and run the project's own tests
	@scripts/setup.sh --dev
	.venv/bin/ruff check .
	$(PYTEST) $(PYTEST_ARGS)

lint:
	.venv/bin/ruff check .
