# Two commands: `make demo` runs the whole system, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench screenshots clean system-deps wheel-check

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# redis-server, dovecot-imapd and chromium come from the system's packages (Debian/Ubuntu: installed if missing, as root).
system-deps:
	@command -v redis-server >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
	  else echo "please install redis-server (>= 6.2)"; exit 1; fi; }
	@[ -x /usr/sbin/dovecot ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd; \
	  else echo "please install dovecot-imapd (the demo's and the tests' IMAP server)"; exit 1; fi; }

demo: $(STAMP) system-deps
	$(BIN)/helpline demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) system-deps lint typecheck
	$(BIN)/pytest -q

bench: $(STAMP) system-deps
	$(BIN)/helpline bench pipeline --messages 20000 --json

# The packaging test with every dependency installed from the package index into a fresh
# virtualenv, as a user would (`make test` runs it borrowing the installed dependencies).
wheel-check: $(STAMP) system-deps
	HELPLINE_WHEEL_FROM_INDEX=1 $(BIN)/pytest -q -s tests/helpline/test_wheel.py

# Refresh the README's screenshots (the console's browser tests, saving into docs/screenshots).
screenshots: $(STAMP) system-deps
	@fc-list | grep -qi "Noto Sans CJK" || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk; \
	  else echo "please install fonts-noto-cjk (the screenshots show Korean, Chinese and Japanese)"; exit 1; fi; }
	HELPLINE_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q tests/console/test_browser.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
