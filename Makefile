# Volx — `make run` takes a fresh machine to the app on http://127.0.0.1:8000 (SQLite),
# `make test` runs the whole suite (SQLite; MariaDB when DATABASE_URL=mysql://…),
# `make bench` measures against MariaDB and writes BENCHMARKS.md.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
HOST   ?= 127.0.0.1:8000
# Debian packages: mysqlclient builds against the first two; gettext compiles the
# translations; the browser tests drive Debian's Chromium through its chromedriver.
SYSTEM_PACKAGES = pkg-config libmariadb-dev gettext chromium chromium-driver

.PHONY: run setup install system-packages messages migrate test test-cluster lint bench

run: setup
	$(PY) manage.py runserver $(HOST)

setup: install migrate

system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES) $(EXTRA_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "Missing Debian packages: $$missing"; \
	    echo "Install them with: sudo apt-get install -y $$missing"; exit 1; \
	  fi; \
	fi

$(VENV)/.installed: requirements.txt
	$(MAKE) system-packages
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

install: $(VENV)/.installed

messages: install
	$(PY) manage.py compilemessages --ignore=$(VENV) -v0

migrate: install messages
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0

# collectstatic: the browser tests run the production server, which serves STATIC_ROOT.
test: install messages
	$(PY) manage.py collectstatic --noinput -v0
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# The cluster suite (volx/tests/cluster): a 3-node Galera cluster and HAProxy on this
# machine (deploy/galera/localcluster.py, ports 13300-13303), its test database made
# through HAProxy; the cluster is stopped and its data deleted afterwards. As root (the
# servers run as the mysql user); -rP prints each test's counts.
CLUSTER_PACKAGES = galera-4 rsync haproxy mariadb-backup
test-cluster: install messages
	$(MAKE) system-packages EXTRA_PACKAGES="$(CLUSTER_PACKAGES)"
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) -m deploy.galera.localcluster start
	DATABASE_URL=mysql://root@127.0.0.1:13300/test TEST_DATABASE_NAME=test_volx_cluster \
	  $(VENV)/bin/pytest -m cluster -rP volx/tests/cluster $(PYTEST_ARGS); \
	  status=$$?; $(PY) -m deploy.galera.localcluster stop; exit $$status

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

# The benchmarks (bench/run.py) use their own databases on the MariaDB server of
# BENCH_DATABASE_SERVER (default mysql://root@127.0.0.1:3306) and wrk as load generator.
bench: install messages
	$(MAKE) system-packages EXTRA_PACKAGES=wrk
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) -m bench.run
