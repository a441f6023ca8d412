# Two commands (README): `make run` sets up and runs the default sweep; `make test` sets up and runs the tests.
# Set-up: reuse the active Python when it already imports torch (a cluster user's CUDA env), else
# create .venv with the CPU build torch==2.13.0 that lies on this kind of machine's disk. Any other
# torch version, or an open range resolved with no torch installed, would download GB of CUDA wheels.
SHELL := /bin/bash
VENV ?= .venv
CORES ?= all
HAVE_TORCH := $(shell python3 -c "import torch" >/dev/null 2>&1 && echo yes)
ifeq ($(HAVE_TORCH),yes)
  PY := python3
else
  PY := $(VENV)/bin/python
endif
STAMP := $(VENV)/.mtrl-bench-setup

.PHONY: setup run test lint bench clean-results
setup: $(STAMP)

$(STAMP): pyproject.toml
	@if [ "$(HAVE_TORCH)" != yes ]; then \
	  [ -x $(VENV)/bin/python ] || python3 -m venv $(VENV); \
	  $(VENV)/bin/python -c "import torch" >/dev/null 2>&1 || $(VENV)/bin/python -m pip install -q torch==2.13.0; \
	fi
	@# mujoco 4 comes as mujoco + mujoco-core + mujoco-studio sharing the mujoco/ package; pinning mujoco<4 over
	@# it would leave mujoco-core's files behind, so such an environment is cleaned of all three first.
	@if $(PY) -m pip show mujoco-core >/dev/null 2>&1; then $(PY) -m pip uninstall -q -y mujoco mujoco-core mujoco-studio; fi
	$(PY) -m pip install -q -e ".[test,slurm,peer]"
	@mkdir -p $(VENV) && touch $(STAMP)

# Snakemake loads workflow/profiles/default by itself (next to workflow/Snakefile), as in a bare `snakemake`.
run: setup
	$(PY) -m snakemake --cores $(CORES)
	$(PY) -m snakemake --report results/report.html
	@echo "Results: results/runs (per-job tidy tables), results/tables, results/figures, results/report.html"

# In CI (CI=true) the suite also runs the local-SLURM test (tests/cluster: installs slurm-wlm and
# munge with apt, needs root, ~5 minutes); on a workstation it is opt-in: pytest --runslurm.
PYTEST_CI_FLAGS := $(if $(filter true 1,$(CI)),--runslurm,)
test: setup
	$(PY) -m ruff check mtrl_bench analysis tests
	$(PY) -m pytest -q $(PYTEST_CI_FLAGS)

bench: setup
	$(PY) -m mtrl_bench.cli bench fqi

clean-results:
	rm -rf results/runs results/tables results/figures results/report.html results/data
