# AudioRole: two commands on a fresh machine.
#   make demo   set everything up, write the embedded demo series, run the whole mission on it (dataset, ARP-Model
#               training with DeepSpeed, replies for the test set, ARP-Eval against the baselines), print a summary
#               ending with the per-character ARP-Eval table
#   make test   set everything up, check the import contracts (lint-imports, pyproject.toml), run the test suite
#   make ui     start the Dagster UI (dagster dev, sensors on) on the demo data

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo_data
MEDIA_ROOT ?= $(DEMO_DIR)/media
DATA_DIR ?= $(DEMO_DIR)/data
DEBIAN_PACKAGES := ffmpeg flite espeak-ng festival festival-czech festvox-czech-dita
# the UI test drives Debian's Chromium headless (playwright, pointed at /usr/bin/chromium; no browser download)
TEST_DEBIAN_PACKAGES := chromium chromium-driver

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup system-deps test-deps venv demo test ui bench clean

setup: system-deps venv

# Debian packages: ffmpeg/ffprobe (media), flite + espeak-ng (demo voices), Festival's Czech voice (the TTS bridge's
# reading of a Czech series; espeak-ng reads the other languages). Installed only when missing.
system-deps:
	@missing=""; for t in ffmpeg ffprobe flite espeak-ng text2wave; do \
	  command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	dpkg -s festvox-czech-dita >/dev/null 2>&1 || missing="$$missing festvox-czech-dita"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages for:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(DEBIAN_PACKAGES) >/dev/null; \
	fi

# Debian's Chromium for the browser test of the curator's UI path. Installed only when missing.
test-deps:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian packages: $(TEST_DEBIAN_PACKAGES)"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(TEST_DEBIAN_PACKAGES) >/dev/null; }

venv: $(VENV)/.installed

# Every version is pinned in requirements.lock and installed without resolution (--no-deps), so a fresh machine
# gets exactly the tested stack. resemblyzer goes in on its own with --no-deps (its webrtcvad pin is broken);
# deepspeed is an sdist: built against the venv's torch (--no-build-isolation), no CUDA ops compiled (DS_BUILD_OPS=0).
# --no-cache-dir: the wheels (torch and its CUDA libraries, ~4 GB) are not kept a second time in pip's cache, which
# halves the disk an install needs at its peak (a CI machine once ran out of space during it).
$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --no-cache-dir --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q --no-cache-dir --no-deps -r requirements.lock
	$(BIN)/python -m pip install -q --no-cache-dir --no-deps resemblyzer==0.1.4
	DS_BUILD_OPS=0 $(BIN)/python -m pip install -q --no-cache-dir --no-deps --no-build-isolation deepspeed==0.19.8
	$(BIN)/python -m pip install -q --no-cache-dir --no-deps --no-build-isolation -e .
	touch $@

demo: setup
	$(BIN)/audiorole demo --out $(DEMO_DIR)
	$(BIN)/audiorole run --media-root $(MEDIA_ROOT) --data-dir $(DATA_DIR)
	$(BIN)/audiorole summary --data-dir $(DATA_DIR)

test: setup test-deps
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q --durations=15 -n 2 --dist loadgroup

ui: setup
	@test -d $(MEDIA_ROOT) || $(BIN)/audiorole demo --out $(DEMO_DIR)
	$(BIN)/audiorole ui --media-root $(MEDIA_ROOT) --data-dir $(DATA_DIR)

bench: setup
	@for b in benchmarks/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .import_linter_cache
