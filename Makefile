# alal — two commands on a fresh machine: `make validate` and `make test`.
# Every target creates .venv and installs the pinned dependencies when needed (stamp file).

PYTHON_BOOTSTRAP ?= python3
VENV            := .venv
PY              := $(VENV)/bin/python
STAMP           := $(VENV)/.alal-installed
OUT             ?= reports/latest
POTENTIALS      ?= ani-al,eam-mishin1999,eam-mendelev2008,eam-zhou2001,emt
TIER            ?= quick

# External data (ANI-Al weights, Mishin 1999 EAM): ../shared/data when it exists, else the user's setting
# or ~/.cache/alal. An already exported ALAL_DATA_DIR wins.
ifeq ($(origin ALAL_DATA_DIR), undefined)
  ifneq ($(wildcard ../shared/data),)
    export ALAL_DATA_DIR := $(abspath ../shared/data)
  endif
endif
# Quiet torchani about optional CUDA extensions; keep BLAS/torch to the machine's cores.
export TORCHANI_NO_WARN_EXTENSIONS := 1
export MPLBACKEND := Agg

.PHONY: all install validate test test-slow test-cluster check-wheel bench bench-al reference train discover study-liquid-density study-melt-curve clean distclean help

help:
	@echo "make validate   quick validation of the default potentials -> $(OUT)/ (report.html, report.pdf, results.json)"
	@echo "make test       the test suite (tier 1, ~10 min on 2 cores)"
	@echo "make test-slow  longer physics tests (pytest -m slow)"
	@echo "make test-cluster  live one-node Slurm cluster + PostgreSQL server: AL through Slurm, datasets on PostgreSQL (pytest -m cluster; root installs slurm/munge with apt)"
	@echo "make check-wheel  build the wheel, pip-install it into a fresh venv, run alal validate outside the repo"
	@echo "make bench      ANI engine / torchani / LAMMPS / EMT speed table -> reports/bench/"
	@echo "make bench-al   active-learning sampler/trainer throughput, current beside new path -> reports/bench/al.json"
	@echo "make reference  regenerate the GPAW-PBE references in reference_data/dft/"
	@echo "make train      active-learning demo with the EMT oracle, then validation of the final model"
	@echo "make study-liquid-density  which protocol factor moves ANI-Al's liquid density (~1 h; resumes) -> reports/studies/"
	@echo "make study-melt-curve      Tm(P) at 0-50 GPa, 3 seeds, ANI-Al + Mendelev + Mishin (~2 h; resumes) -> reports/studies/"
	@echo "make discover   automated discovery from random cells with the ANI-Al teacher (<= 2.5 h; resumes) -> runs/discovery/"

all: validate

install: $(STAMP)

# System libraries GPAW builds against (libxc, BLAS). Installed with apt when missing and we are root.
SYSTEM_PKGS := libxc-dev libopenblas-dev

$(STAMP): requirements.lock requirements-dev.lock pyproject.toml configs/gpaw-siteconfig.py
	@missing=""; for p in $(SYSTEM_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then echo ">> apt-get install$$missing"; \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null || \
	     (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null)); \
	  else echo "!! missing system packages:$$missing (GPAW needs them): sudo apt-get install$$missing"; fi; \
	fi
	@test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip==26.3 setuptools==84.2.1 wheel==0.48.0
	# torch first, pinned: the CPU build is served locally; an unpinned torch pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	@# GPAW is built from source: configs/gpaw-siteconfig.py makes it compile its C++ sources with g++.
	GPAW_CONFIG=$(abspath configs/gpaw-siteconfig.py) $(PY) -m pip install -q -r requirements.lock -r requirements-dev.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

validate: $(STAMP)
	$(PY) -m alal.cli validate --potentials $(POTENTIALS) --tier $(TIER) --out $(OUT)

test: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not cluster" tests

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow tests

# Live services started by the tests themselves (tests/live_services.py): slurmctld + slurmd + munged on this host
# and a PostgreSQL server (the machine's postgres binaries). Slurm and munge come from apt when missing and we are
# root; where they cannot be had, the Slurm tests skip with the reason (-rs prints it).
CLUSTER_PKGS := slurmctld slurmd slurm-client munge

test-cluster: $(STAMP)
	@missing=""; for p in $(CLUSTER_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then echo ">> apt-get install$$missing"; \
	    (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null) || \
	      echo "!! apt-get install$$missing failed: the Slurm tests will skip"; \
	  else echo "!! missing system packages:$$missing (the Slurm tests skip): sudo apt-get install$$missing"; fi; \
	fi
	$(PY) -m pytest -q -rs -m cluster tests

check-wheel:
	.ci/check-wheel $(PYTHON_BOOTSTRAP)

bench: $(STAMP)
	$(PY) -m alal.cli bench --out reports/bench

bench-al: $(STAMP)
	$(PY) -m alal.cli bench --suite al --out reports/bench

reference: $(STAMP)
	$(PY) -m alal.cli reference --out reference_data/dft

train: $(STAMP)
	@# a second 'make train' (after a crash, Ctrl-C or a finished run) continues runs/emt-demo instead of refusing;
	@# runs/ is git-ignored, so a fresh clone has none (alal train refuses to invent missing parent folders)
	@mkdir -p runs
	$(PY) -m alal.cli train configs/al-emt-demo.toml $$(test -f runs/emt-demo/manifest.json && echo --resume || echo --run-dir) runs/emt-demo --validate

# The paper's claim on 2 cores: random cells only, the published ANI-Al as the oracle; a second call resumes.
discover: $(STAMP)
	@mkdir -p runs
	$(PY) -m alal.cli discover configs/al-discovery.toml --run-dir runs/discovery

study-liquid-density: $(STAMP)
	$(PY) -m alal.cli md-study liquid-density --potential ani-al --out reports/studies/liquid-density

study-melt-curve: $(STAMP)
	$(PY) -m alal.cli md-study melt-curve --out reports/studies/melt-curve

clean:
	rm -rf reports/latest reports/bench .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info
