# The two commands of the README: `make demo` and `make test`. Both build the project-local
# virtualenv .venv first (Python >= 3.10; python3.11 preferred), installing the pinned, locked set.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test browser lock clean

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[test]"
	touch $(STAMP)

# DEMO_ARGS: options of scripts/demo.py, e.g. make demo DEMO_ARGS="--port 8001"
DEMO_ARGS ?=
demo: venv
	$(BIN)/python scripts/demo.py $(DEMO_ARGS)

test: venv browser
	$(BIN)/python -m pytest

# The real-browser test (tests/test_browser.py) drives Debian's chromium through Playwright (no browser
# download): install it when missing (apt-get as root, else through sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null || ($(SUDO) apt-get update && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y chromium)

# Re-resolve the lock from pyproject.toml in a scratch venv (run by hand when a pin changes).
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet --upgrade "pip>=24"
	.lockenv/bin/python -m pip install --quiet ".[test]"
	( echo '# Locked by `make lock` from a fresh venv of pyproject.toml[test]; `make venv` installs with these as constraints.'; \
	  .lockenv/bin/python -m pip freeze --exclude annotate ) > requirements.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV)
