# The two commands of the README: `make run` and `make test`.
# Both create .venv and install what they need themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Real DVC 3, in its own environment (never a dependency of ours), so the
# interop tests can check that DVC reads what we write.
DVC_VENV := .venv-dvc
# Named after what it stamps: a stamp left by an older recipe (which stamped
# even a failed install) does not count.
DVC_STAMP := $(DVC_VENV)/.installed-dvc-s3-3.67.1-dvclive-3.49.1
export PREFECT_DVC_TEST_DVC ?= $(CURDIR)/$(DVC_VENV)/bin/dvc
# DVCLive runs inside stage commands in the DVCLive tests; it needs DVC
# itself, so it lives in DVC's environment, never in ours.
export PREFECT_DVC_TEST_DVCLIVE ?= $(CURDIR)/$(DVC_VENV)/bin/python
# Headless Chromium for the UI and offline-page tests (Debian's package).
export PREFECT_DVC_TEST_CHROMIUM ?= /usr/bin/chromium

.PHONY: run test lint bench clean chromium
# Azurite (Azure's blob emulator, npm) for the remote conformance suite.
AZURITE := .tools/azurite/node_modules/.bin/azurite-blob

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,all]'
	touch $(STAMP)

# A failed install fails `make test` and leaves no stamp, so the next run
# tries again instead of running the interop tests without DVC.
# dvc[s3]: DVC talks to the moto S3 endpoint in the interop tests.
$(DVC_STAMP):
	$(PYTHON) -m venv $(DVC_VENV)
	$(DVC_VENV)/bin/python -m pip install -q 'dvc[s3]==3.67.1' 'dvclive==3.49.1'
	$(DVC_VENV)/bin/dvc --version
	$(DVC_VENV)/bin/python -c 'import dvclive'
	touch $(DVC_STAMP)

$(AZURITE):
	npm install --prefix .tools/azurite --no-audit --no-fund --silent azurite
	test -x $(AZURITE)

chromium:
	@test -x $(PREFECT_DVC_TEST_CHROMIUM) \
		|| (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)
	@test -x $(PREFECT_DVC_TEST_CHROMIUM) \
		|| (echo "chromium is not at $(PREFECT_DVC_TEST_CHROMIUM) after installing it" && exit 1)

run: $(STAMP)
	$(BIN)/python examples/run_example.py

test: $(STAMP) $(DVC_STAMP) $(AZURITE) chromium
	$(BIN)/ruff check prefect_dvc tests bench examples
	$(BIN)/python -m pytest -q -n 3 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check prefect_dvc tests bench examples
	$(BIN)/ruff format --check prefect_dvc tests bench examples

bench: $(STAMP)
	$(BIN)/python bench/bench_hashing.py
	$(BIN)/python bench/bench_pipeline.py
	$(BIN)/python bench/bench_exp_show.py

clean:
	rm -rf $(VENV) $(DVC_VENV) .pytest_cache .tools
