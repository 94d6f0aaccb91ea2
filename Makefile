# One command to run the product, one to test it. Needs Python 3.11+ with pip and venv.
# `make check` runs the static checks; `make test-pg` the suite on PostgreSQL + Redis.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements
# Locks with hashes (`make lock` writes them from requirements/*.in): production installs
# runtime.txt, development and CI dev.txt (runtime plus tests, benchmarks and tooling).
LOCK := requirements/dev.txt
COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes \
	--allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links

.PHONY: install lock messages setup run test test-pg lint check check-migrations check-schema \
	check-imports check-complexity check-production release clean soak screens

$(STAMP): $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	cp $(LOCK) $(STAMP)

install: $(STAMP)

# After editing requirements/runtime.in or dev.in: pin what changed, keeping every other version.
lock: install
	$(COMPILE) --output-file requirements/runtime.txt requirements/runtime.in
	$(COMPILE) --output-file requirements/dev.txt requirements/dev.in

messages: install
	$(BIN)/python manage.py compilemessages --ignore=.venv --verbosity 0

setup: messages
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_setup

run: setup
	$(BIN)/honcho start

# `make run` on a busy machine for SOAK_MINUTES (default 30), the worker SIGKILLed twice: the web
# must answer throughout and every job finish (tools/soak.py). `make soak SOAK_MINUTES=3` is quick.
soak: messages
	$(BIN)/python -m tools.soak

# Screenshots of the main screens in both languages into docs/screens/ (needs Debian's chromium
# and fonts-noto-cjk): a fresh demo in a temporary state folder, shot by a real browser.
screens: messages
	$(BIN)/python -m tools.screens

test: messages
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The suite on PostgreSQL + Redis, as CI's second run; override either URL on the command line or
# in the environment, e.g. `make test-pg DATABASE_URL=postgres://postgres@127.0.0.1:5432/mine`.
test-pg: DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
test-pg: CELERY_BROKER_URL ?= redis://127.0.0.1:6379/0
test-pg: messages
	@case "$(DATABASE_URL)" in postgres://*|postgresql://*) ;; \
	  *) echo "test-pg: DATABASE_URL must be a postgres:// URL, not '$(DATABASE_URL)'" >&2; exit 2;; esac
	DATABASE_URL="$(DATABASE_URL)" CELERY_BROKER_URL="$(CELERY_BROKER_URL)" \
	  $(BIN)/python -m pytest $(PYTEST_ARGS)

# Several machines rehearsed on this one (needs PostgreSQL and Redis; see tools/rehearsal.py).
.PHONY: rehearsal
rehearsal: messages
	$(BIN)/python -m tools.rehearsal $(REHEARSAL_ARGS)

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

# Static checks (CI runs them all before the tests; `make -k check` reports every failure).
check: lint check-migrations check-schema check-imports check-complexity check-production

check-migrations: install
	$(BIN)/python manage.py makemigrations --check --dry-run

check-schema: install
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

check-imports: install
	$(BIN)/lint-imports --no-cache

check-complexity: install
	$(BIN)/python .ci/complexity.py

# The shape of compose.yaml, Procfile.production and Dockerfile (CI cannot pull images to run them).
check-production: install
	$(BIN)/python .ci/production_check.py

# Production, before starting Procfile.production and after each deploy, in a venv holding only
# requirements/runtime.txt (no dev install here): translations, migrations, static files.
release:
	$(BIN)/python manage.py compilemessages --ignore=.venv --verbosity 0
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

clean:
	rm -rf var/db.sqlite3* var/broker var/test-broker var/test.sqlite3 var/celerybeat-schedule*
