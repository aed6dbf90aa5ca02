# calcdx: every target creates .venv when missing and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= demo-output

.PHONY: demo test bench lint clean system

# The venv needs python3-venv on Debian, so the system packages come first (also under -j).
$(BIN)/python: | system
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,pdf]"
	touch $(STAMP)

# Debian packages (PDF report, browser tests, PostgreSQL, dciodvfy): installs the missing ones.
system:
	.ci/ensure-debian-packages

demo: system $(STAMP)
	$(BIN)/python -m calcdx.demo --out $(OUT)

test: system $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	# The suite runs against a throwaway PostgreSQL server (.ci/postgres.sh) unless
	# CALCDX_TEST_POSTGRES_URL already names one.
	if [ -n "$$CALCDX_TEST_POSTGRES_URL" ]; then $(BIN)/pytest -q; \
	else .ci/postgres.sh $(BIN)/pytest -q; fi

bench: $(STAMP)
	$(BIN)/python -m bench.run

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache
