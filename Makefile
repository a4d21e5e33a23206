# Docker for MLOps: one entry point for students, instructors and CI.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= .demo
DEMO_PROJECT ?= mlops-kit-demo
COMPOSE_DEMO = docker compose --project-directory $(DEMO_DIR) -p $(DEMO_PROJECT) -f $(DEMO_DIR)/docker-compose.yml
PYTEST_OPTS ?=
LABS ?= 1-10

.PHONY: help setup test test-unit test-docker test-notebooks walk demo down demo-clean lab grade grade-reference release notebooks lock lint bench clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

setup: ## Install everything: venv, Docker engine, Compose v2, base images (idempotent)
	@bash scripts/setup/setup.sh

test: ## Run the whole suite in two lanes: pytest on 2 workers beside the notebooks + walk (TEST_JOBS=N, TEST_LANES=serial)
	@PYTHON=$(PY) PYTEST_OPTS="$(PYTEST_OPTS)" bash scripts/test-all.sh

test-unit: ## Only the tests that need no Docker engine (fast)
	$(PY) -m pytest -m "not docker" $(PYTEST_OPTS)

test-docker: ## Only the tests that run against the Docker engine
	$(PY) -m pytest -m docker $(PYTEST_OPTS)

test-notebooks: ## Run every notebook against the reference solution (nbval), timed
	PYTHON=$(PY) bash scripts/test-notebooks.sh

walk: ## Walk the labs as a student in a plain terminal (LABS=1-10 or e.g. 5-7; uses ports 5000, 5001, 5005)
	$(PY) -m scripts.walk --labs $(LABS)

demo: ## Bring the reference stack up on localhost:5000 (API) and localhost:5001 (MLflow UI)
	@$(PY) -m grader workspace --solution --dest $(DEMO_DIR) >/dev/null
	$(COMPOSE_DEMO) up -d --build --wait
	$(COMPOSE_DEMO) --profile train run --rm train
	@echo "API:       http://localhost:5000/health   (POST /predict)"
	@echo "MLflow UI: http://localhost:5001"
	@echo "Stop with 'make down' (keeps MLflow data) or 'make demo-clean' (removes it)."

down: ## Stop the demo stack (MLflow data is kept in its volume)
	@if [ -f $(DEMO_DIR)/docker-compose.yml ]; then $(COMPOSE_DEMO) --profile train down; fi

demo-clean: ## Stop the demo stack and delete its volumes and images
	@if [ -f $(DEMO_DIR)/docker-compose.yml ]; then $(COMPOSE_DEMO) --profile train down -v --rmi local; fi
	rm -rf $(DEMO_DIR)

lab: ## Start JupyterLab on the notebooks (port 8888)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/jupyter lab --notebook-dir=notebooks --ip=0.0.0.0 --port=8888 --no-browser $(if $(filter 0,$(shell id -u)),--allow-root)

grade: ## Grade your submission (this repository)
	$(PY) -m grader

grade-reference: ## Grade the reference solution (must be 100)
	$(PY) -m grader --solution

release: ## Write the student edition to DEST (make release DEST=../labs-2026 [FAIL_BELOW_FULL=1])
	@test -n "$(DEST)" || { echo "usage: make release DEST=DIR [FAIL_BELOW_FULL=1]" >&2; exit 2; }
	$(PY) -m grader release --dest "$(DEST)" $(if $(FAIL_BELOW_FULL),--fail-below-full)

notebooks: ## Regenerate notebooks/*.ipynb from the handouts in labs/
	$(PY) -m scripts.notebooks sync

lock: ## Re-freeze the pinned dependency sets (needs the engine for the image locks)
	bash scripts/lock-requirements.sh

lint: ## Ruff on the Python code, hadolint on the reference Dockerfiles
	$(VENV)/bin/ruff check grader starter tests scripts
	$(VENV)/bin/hadolint solutions/Dockerfile.mlapp solutions/Dockerfile.mlflow

bench: ## Print timing and size figures, beside the version before issue 13 (QUICK=1, REPEATS=10)
	$(PY) -m benchmarks.run $(if $(QUICK),--quick) $(if $(REPEATS),--repeats $(REPEATS))

clean: ## Remove local caches (not the venv)
	rm -rf .pytest_cache .ruff_cache grader-results
