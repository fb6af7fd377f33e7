# The two commands of the README: `make run` and `make test`.
# Both create .venv and install what they need themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Real DVC 3, in its own environment (never a dependency of ours), so the
# interop tests can check that DVC reads what we write.
DVC_VENV := .venv-dvc
DVC_STAMP := $(DVC_VENV)/.installed
export PREFECT_DVC_TEST_DVC ?= $(CURDIR)/$(DVC_VENV)/bin/dvc

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

$(DVC_STAMP):
	$(PYTHON) -m venv $(DVC_VENV)
	$(DVC_VENV)/bin/python -m pip install -q 'dvc==3.67.1' \
		|| echo "real DVC could not be installed: the dvc_interop tests will be skipped"
	touch $(DVC_STAMP)

run: $(STAMP)
	$(BIN)/python examples/run_example.py

test: $(STAMP) $(DVC_STAMP)
	@test -x /usr/bin/chromium || apt-get install -y chromium >/dev/null 2>&1 \
		|| echo "chromium not installed: tests/integration/test_ui.py will be skipped"
	$(BIN)/ruff check prefect_dvc tests bench examples
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check prefect_dvc tests bench examples
	$(BIN)/ruff format --check prefect_dvc tests bench examples

bench: $(STAMP)
	$(BIN)/python bench/bench_hashing.py
	$(BIN)/python bench/bench_pipeline.py
	$(BIN)/python bench/bench_exp_show.py

clean:
	rm -rf $(VENV) $(DVC_VENV) .pytest_cache
