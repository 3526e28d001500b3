# Slipway's entry points. Every target does its own set-up: a fresh clone needs
# only python3, make and root (or sudo) for Docker Engine.
#   make demo       the lab up, then the platform converged on it
#   make test       everything CI runs (lint, unit, molecule, lab integration); the fast tier, molecule and site side by side
#   make test-fast  lint (ansible-test sanity under each supported ansible-core among it) + unit tests
#                   (the plugins' under each ansible-core; the host code's under Python 3.8 to 3.13)
#                   + what runs on hosts imported by Python 3.8 to 3.13
#   make engine-test the unit tests that need Docker Engine and the lab's base image
#   make deploy-e2e deploy.yml on the lab under load (good and bad releases), through AWX's runner and the EE
#   make ee         build the execution environment (localhost/slipway/ee:<version>)
#   make deploy-exits the other ways out of a deploy (fleet verification, fleet watch, lost host, failed rollback, killed controller)
#   make app-test   the reference platform's tests (real PostgreSQL and Redis)
#   make app-images build the platform's images (and the PostgreSQL and Redis stand-ins) into the lab registry
#   make lab-down   remove everything the lab made

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The controller's Python: 3.12 or newer, which ansible-core 2.21 needs (scripts/controller-python).
PYTHON ?= $(shell scripts/controller-python)
APP_PYTHON ?= python3.11
# `$(PYTHON) $(PY_XY)` prints that Python's X.Y.
PY_XY = -c 'import sys; print("%d.%d" % sys.version_info[:2])'
VENV ?= .venv
STAMP := $(VENV)/.installed
INVENTORY ?= inventories/dev
STAGE := scripts/stage
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR ?= false
export PY_COLORS ?= 0
# scripts/stage appends each stage's time here; `make test` prints the table.
export SLIPWAY_STAGE_LOG := $(CURDIR)/.cache/stages.tsv
# ... and a failed stage's error lines here; `make test` prints them last.
export SLIPWAY_STAGE_ERRORS := $(CURDIR)/.cache/stage-errors.txt

.PHONY: help venv docker lab lab-down demo site ee deploy-e2e deploy-exits test test-fast lint unit target-pythons core-units target-units engine-test app-test app-images molecule integration bench bench-roles bench-audit bench-db bench-deploy bench-speed bench-fleet bench-task-costs bench-evidence lock app-lock clean stage-log-reset

help:
	@sed -n 's/^#   //p' Makefile

# ---- Set-up -----------------------------------------------------------------
# awx.awx comes from an older `ansible` wheel (ansible.cfg); instant when present.
venv: $(STAMP)
	@scripts/ensure-awx-collection
$(STAMP): requirements.txt
	@test -n "$(PYTHON)" || { echo "make: no controller Python (see the line above)"; exit 1; }
	@# A venv of another Python (an older checkout's 3.11) is made again, not patched.
	@if [ -x $(VENV)/bin/python ] && [ "$$($(VENV)/bin/python $(PY_XY))" != "$$($(PYTHON) $(PY_XY))" ]; then rm -rf $(VENV); fi
	@$(STAGE) venv bash -c '$(PYTHON) -m venv $(VENV) && $(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt 2>&1 | { grep -v "^WARNING: Location" || true; }'
	@touch $@

docker:
	@$(STAGE) docker-engine scripts/ensure-docker

lab: venv docker
	@$(STAGE) lab-up ansible-playbook playbooks/lab.yml -i $(INVENTORY)

# KEEP_IMAGES=1 keeps the lab images, so the next `make lab` skips debootstrap.
lab-down: venv docker
	@$(STAGE) lab-down ansible-playbook playbooks/lab.yml -i $(INVENTORY) -e lab_state=absent \
		-e lab_remove_images=$(if $(KEEP_IMAGES),false,true)

# ---- Run --------------------------------------------------------------------
site: lab app-images
	@$(STAGE) site ansible-playbook site.yml -i $(INVENTORY)

demo: site
	@echo
	@echo "The lab is up: ssh -i .lab/ssh/id_ed25519 -p 2211 root@127.0.0.1 (app1); see README, 'The lab'."

# ---- Tests ------------------------------------------------------------------
lint: venv
	@$(STAGE) yamllint yamllint --strict .
	@$(STAGE) ruff ruff check .
	@$(STAGE) ruff-format ruff format --check .
	@$(STAGE) vermin vermin -q -t=3.8- --violations --no-tips plugins/modules plugins/module_utils roles tests/unit/plugins/modules tests/unit/plugins/module_utils tests/conftest.py tests/certs.py
	@$(STAGE) bandit bandit -q -c pyproject.toml -r plugins scripts app roles
	@$(STAGE) argument-specs python scripts/check_argument_specs.py
	@$(STAGE) awx-objects python scripts/check_awx_objects.py
	@$(STAGE) variable-docs python scripts/render_variable_docs.py --check
	@$(STAGE) galaxy-importer python scripts/check_galaxy_import.py
	@$(STAGE) ansible-lint ansible-lint --profile production
	@$(STAGE) sanity python scripts/check_sanity.py

# The monitoring role's unit tests use promtool and amtool (Debian's packages,
# unpacked into .cache by scripts/ensure-monitoring-tools).
unit: venv
	@$(STAGE) monitoring-tools scripts/ensure-monitoring-tools
	@$(STAGE) unit pytest tests/unit -m "not engine" --junitxml=.cache/junit-unit.xml

# The unit tests marked `engine` (the health gate's container watch, verify's
# rollback check) need a Docker Engine holding the lab's base image.
engine-test: lab
	@$(STAGE) engine-test pytest tests/unit -m engine --junitxml=.cache/junit-engine.xml

# What runs on hosts, imported by each target Python (3.8 to 3.13, pyenv's).
target-pythons: venv
	@$(STAGE) target-pythons python scripts/check_target_pythons.py

# The plugins' unit tests under the supported ansible-cores other than the
# toolchain's pin (scripts/pythons.py's CORES; `make unit` runs the pin's).
core-units: venv
	@$(STAGE) core-units python scripts/check_core_units.py

# The unit tests of what runs on hosts (modules, module_utils) under each target
# Python, 3.8 to 3.13, beside the module_utils of the ansible-core that serves it.
target-units: venv
	@$(STAGE) target-units python scripts/check_target_units.py

test-fast: lint unit target-pythons core-units target-units

# The reference platform (app/) against real PostgreSQL 15 and Redis servers
# that the tests start on 127.0.0.1; scripts/ensure-test-servers installs them.
app-test: venv
	@$(STAGE) test-servers scripts/ensure-test-servers
	@$(STAGE) app-test pytest tests/app --junitxml=.cache/junit-app.xml

# Every release of the platform's image (good and bad), pushed to the lab registry.
app-images: lab
	@$(STAGE) app-images python scripts/build-app-images
	@$(STAGE) service-images python scripts/build-service-images

# Every role's scenario on its own instances, two at a time (its instances are
# named for it; SLIPWAY_MOLECULE_LANES=1 runs them one by one), longest first;
# on Debian 13, and the db roles on Debian 12 too (db_debian12).
# `deploy` drives the lab itself, so it runs after `make site` (deploy-e2e below).
# (2026-12-05, two lanes, alone: app_stack 263 s, nginx_tls 207, db_debian12 204,
# db 196, monitoring 120, host_prep 98, docker_engine 72, apt_proxy 32.)
SCENARIOS_LONGEST = app_stack nginx_tls db db_debian12 monitoring host_prep
ROLE_SCENARIOS = $(SCENARIOS_LONGEST) $(filter-out deploy deploy_exits $(SCENARIOS_LONGEST),$(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
molecule: lab app-images
	@$(STAGE) molecule scripts/molecule-scenarios $(ROLE_SCENARIOS)

# The execution environment (execution-environment.yml), built with no
# registry and no network inside the build: localhost/slipway/ee:<version>.
ee: lab
	@$(STAGE) ee python scripts/build-ee

# deploy.yml end to end on the lab under load: a good release, bad ones, the
# lock; as AWX runs it (ansible-runner) and in the execution environment.
# Before `integration`: its last test takes the lab down and brings it up blank.
deploy-e2e: site app-images ee
	@$(STAGE) deploy-e2e molecule test -s deploy

# A failed fleet verification, a release the watch on the fleet fails, a host
# lost mid-step, a rollback that fails, a killed controller, and how the next
# run mends each (about 30 min); outside
# `make test` for its time.
deploy-exits: site app-images
	@$(STAGE) deploy-exits molecule test -s deploy_exits

integration: site app-images
	@$(STAGE) integration pytest tests/integration --junitxml=.cache/junit-integration.xml

stage-log-reset:
	@mkdir -p .cache && : > $(SLIPWAY_STAGE_LOG) && : > $(SLIPWAY_STAGE_ERRORS) && rm -f .cache/junit-*.xml

# `make test` runs in two phases, after what the controller needs from apt
# (test-setup: one apt at a time):
#   1. two lanes side by side, every line prefixed `[stage]`: test-fast | the lab
#      and its images, then two sub-lanes of their own: molecule | engine-test,
#      app-test, site, ee. One after another they left the 2 cores 30 % idle
#      (2026-12-05: phase 1 68 % busy, molecule 70 %, site 73 %): most of their
#      time is container boots, apt and the tests' waits.
#   2. deploy-e2e, then integration, alone: the deploy's gates and canary judge
#      latency on this machine, and integration ends by taking the lab down.
# A lane's sub-make is told (-o) what was made before it, so that nothing (the
# lab above all) is made twice at once.
MADE_FIRST = -o venv -o docker
MADE_LAB = $(MADE_FIRST) -o lab -o app-images
MADE_IN_PHASE_1 = $(MADE_LAB) -o site -o ee
LANE = --no-print-directory -j1
.PHONY: test-setup test-phase-1 lane-fast lane-lab lane-molecule lane-site
test-setup: venv docker
	@$(STAGE) monitoring-tools scripts/ensure-monitoring-tools
	@$(STAGE) test-servers scripts/ensure-test-servers
test-phase-1: lane-fast lane-lab
lane-fast:
	@SLIPWAY_STAGE_PREFIX=1 $(MAKE) $(LANE) $(MADE_FIRST) test-fast
lane-lab:
	@SLIPWAY_STAGE_PREFIX=1 $(MAKE) $(LANE) $(MADE_FIRST) app-images
	@$(MAKE) --no-print-directory -j2 lane-molecule lane-site
lane-molecule:
	@SLIPWAY_STAGE_PREFIX=1 $(MAKE) $(LANE) $(MADE_LAB) molecule
lane-site:
	@SLIPWAY_STAGE_PREFIX=1 $(MAKE) $(LANE) $(MADE_LAB) engine-test app-test site ee

test: stage-log-reset
	@start=$$(date +%s); \
	  $(MAKE) --no-print-directory test-setup \
	  && $(MAKE) --no-print-directory -j2 test-phase-1 \
	  && $(MAKE) --no-print-directory $(MADE_IN_PHASE_1) deploy-e2e integration; \
	  rc=$$?; echo; \
	  awk -F'\t' -v rc=$$rc -v wall=$$(( $$(date +%s) - start )) ' \
	    BEGIN { print (rc ? "make test: FAILED." : "make test: all stages passed.") " Seconds per stage (phase 1 runs its lanes side by side):" } \
	    { printf "  %-16s %8s s  %s\n", $$1, $$2, $$3; if ($$3 != "ok") bad = bad " " $$1 } \
	    END { printf "  %-16s %8s s\n", "wall time", wall; if (bad) print "Failed:" bad " (why, below; each also printed its errors above its <== line)" }' \
	    $(SLIPWAY_STAGE_LOG); \
	  if [ $$rc -ne 0 ]; then cat $(SLIPWAY_STAGE_ERRORS); fi; \
	  exit $$rc
	@python scripts/junit_summary.py .cache/junit-unit.xml .cache/junit-engine.xml .cache/junit-app.xml .cache/junit-integration.xml

# lab_timings runs last: it takes the lab down and up again, images and
# registry included, which the other two need.
bench: lab app-images
	@$(STAGE) bench-app python tests/bench/app_load.py
	@$(STAGE) bench-audit python tests/bench/audit_overhead.py
	@$(STAGE) bench-lab python tests/bench/lab_timings.py

# Converge time of each role on a fresh molecule instance, median of 3.
bench-roles: lab app-images
	@$(STAGE) bench-roles python tests/bench/role_converge.py

# Backup, restore and drill times for a 1 GiB database on a fresh molecule
# db host, median of 3 (not while `molecule test -s db` runs: same instance).
bench-db: lab
	@$(STAGE) bench-db python tests/bench/db_backup.py

# deploy.yml under load on the converged lab: a good release, every bad one and
# the naive `compose up -d` side by side (about 25 min).
bench-deploy: site app-images
	@$(STAGE) bench-deploy python tests/bench/deploy_faults.py

# What Slipway adds to a deploy (wall time over its lower bound, overhead and
# controller CPU per host, under load) and site.yml with nothing to change,
# median of 3 against their targets (about 30 min). COMPARE=<checkout> runs
# that checkout's deploys in turn with these, side by side; PROFILE=1 adds the
# deploys' controller CPU by playbook file.
bench-speed: site app-images
	@$(STAGE) bench-speed python tests/bench/deploy_speed.py $(if $(COMPARE),--compare $(COMPARE)) $(if $(PROFILE),--profile)

# What a task slot costs the controller, by kind (set_fact, skipped, a module
# over SSH, one delegated to localhost): the 2 s a host budget split.
bench-task-costs: site
	@$(STAGE) bench-task-costs python tests/bench/task_costs.py

# What the canary's evidence costs the controller as the traffic grows: one
# read, keep and judgment of 2,000 to 100,000 requests (COMPARE as above).
bench-evidence: site
	@$(STAGE) bench-evidence python tests/bench/evidence_cost.py $(if $(COMPARE),--compare $(COMPARE))

# The lab grown to 8 and 16 app hosts (SIZES), one deploy at each with serial 25%:
# the controller's CPU a host and a batch, and 500 hosts on paper.
bench-fleet: site app-images
	@$(STAGE) bench-fleet python tests/bench/fleet_scale.py $(if $(SIZES),--sizes $(SIZES))

# The audit callback's overhead alone, on a lab that is already up.
bench-audit: venv
	@$(STAGE) bench-audit python tests/bench/audit_overhead.py

# ---- Maintenance ------------------------------------------------------------
# $(call freeze,INPUT,LOCK,TARGET): install INPUT in a throw-away venv and
# write the full pip freeze to LOCK.
define freeze
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q -r $(1)
	{ echo "# Full lock of requirements.in for Python $$($(PYTHON) $(PY_XY)). Regenerate with: make $(3)"; .lock-venv/bin/pip freeze; } > $(2)
	rm -rf .lock-venv
endef

lock:
	$(call freeze,requirements.in,requirements.txt,lock)

# The platform's lock is for its image's Python (app/Dockerfile: 3.11), not the controller's.
app-lock: PYTHON = $(APP_PYTHON)
app-lock:
	$(call freeze,app/requirements.in,app/requirements.txt,app-lock)

clean:
	rm -rf $(VENV) .cache .build .pytest_cache .ruff_cache
