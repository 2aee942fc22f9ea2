# The two commands of the README: `make run` (the system on this machine) and `make test`
# (the whole suite). The operations targets wrap the playbooks; INVENTORY picks the lab.
INVENTORY ?= inventories/lab
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# What running needs (make run): the services and their libraries, not the test tools.
RUN_STAMP := $(VENV)/.installed-run
BENCH_STAMP := $(VENV)/.bench-installed
WORKERS ?= 3
ANSIBLE_OPTS ?=

export PATH := $(abspath $(BIN)):$(PATH)

NODE_WORKER := services/worker-node
NODE_STAMP := $(NODE_WORKER)/node_modules/.installed
# The conformance suite's worker commands (services/tests/conformance/).
NODE_WORKER_CMD := node $(abspath $(NODE_WORKER))/src/main.js
NODE_HEALTH_CMD := node $(abspath $(NODE_WORKER))/src/health.js
GO_WORKER_CMD := $(abspath services/worker-go/ai-worker-go)
JAVA_WORKER_CMD := $(abspath services/worker-java/ai-worker-java)

.PHONY: help run test check system venv node-deps protos check-protos lint lint-node lint-all \
        test-unit test-integration test-browser test-python test-go test-java test-node \
        test-conformance worker-go worker-java test-ansible lab-images test-molecule bench bench-compare bench-scale \
        bench-converge deploy verify status scale logs update rollback stop backup restore \
        teardown clean

help:
	@echo "make run           the web chat on this machine: Mosquitto, master and $(WORKERS) workers"
	@echo "make check         before every commit: lint, types, unit and integration tests (a few minutes)"
	@echo "make test          everything: check, browser, conformance, Ansible checks, the Molecule lab"
	@echo "make worker-go     the Go worker, services/worker-go/ai-worker-go (Debian's Go packages)"
	@echo "make worker-java   the Java worker, services/worker-java/ai-worker-java (Debian's JDK and libraries)"
	@echo "make bench         throughput and overhead latency benchmark (writes bench/results/)"
	@echo "make bench-compare the same load on Celery + Redis and on this system: tasks/s, ratio"
	@echo "make bench-scale   throughput by worker count; the master's memory with 1,000 sessions, 10,000 queued"
	@echo "make bench-converge site.yml on four local hosts with the lab's variables: bare, then again"
	@echo "make deploy        ansible-playbook site.yml -i $(INVENTORY)"
	@echo "make verify|status|update|rollback|stop|teardown"
	@echo "make backup [SECRETS=vault-password-file]"
	@echo "make restore BACKUP=backups/ai-system-<UTC time> [SECRETS=vault-password-file]"
	@echo "make logs [SERVICE=master] [NODE=worker3] [SINCE=10m]"
	@echo "make scale SERVICE=worker-python REPLICAS=8"

# --- environment ----------------------------------------------------------------------
venv: $(STAMP)

$(STAMP): requirements-dev.txt services/constraints.txt services/pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q -c services/constraints.txt -r requirements-dev.txt -e 'services[test]'
	touch $@

# The Node.js worker's dependencies, exactly as package-lock.json pins them.
node-deps: $(NODE_STAMP)

$(NODE_STAMP): $(NODE_WORKER)/package.json $(NODE_WORKER)/package-lock.json
	scripts/ensure-system.sh node
	cd $(NODE_WORKER) && npm ci --no-audit --no-fund
	touch $@

# --- the system on this machine -------------------------------------------------------
# Options of ai-system-local pass through ARGS, e.g. make run ARGS='--web-port 8890 --mqtt-port 1884'.
run: $(RUN_STAMP)
	scripts/ensure-system.sh mosquitto
	$(BIN)/ai-system-local --workers $(WORKERS) --state-dir .state $(ARGS)

$(RUN_STAMP): services/constraints.txt services/pyproject.toml
	@echo "==> Installing the system's Python packages into $(VENV) (the first run only)"
	python3 -m venv $(VENV)
	$(BIN)/pip install --progress-bar on -c services/constraints.txt -e services
	touch $@

# --- tests ----------------------------------------------------------------------------
# scripts/run-tests.py runs the stages below (make targets), two at a time where they may
# overlap, times them and shows why one failed; `scripts/run-tests.py --list` names them.
test:
	python3 scripts/run-tests.py test

check:
	python3 scripts/run-tests.py check

# What the tests need from Debian's packages, in one apt transaction (make check needs no
# Chromium or Docker: it sets SYSTEM_COMPONENTS to the rest).
SYSTEM_COMPONENTS ?= mosquitto chromium docker go node java
system:
	scripts/ensure-system.sh $(SYSTEM_COMPONENTS)

lint: $(STAMP)
	cd services && ruff check .
	cd services && mypy ai_system
	ruff check --config services/pyproject.toml plugins tests bench molecule scripts

lint-node: $(NODE_STAMP)
	cd $(NODE_WORKER) && npm run -s lint

lint-all: lint lint-node check-protos
	$(BIN)/yamllint --strict .

protos: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I protos --python_out=services --pyi_out=services \
	  --grpc_python_out=services protos/ai_system/rpc/worker_callback.proto

# The committed stubs must be exactly what grpcio-tools makes from the .proto.
check-protos: $(STAMP)
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	$(BIN)/python -m grpc_tools.protoc -I protos --python_out=$$tmp --pyi_out=$$tmp \
	  --grpc_python_out=$$tmp protos/ai_system/rpc/worker_callback.proto && \
	for f in worker_callback_pb2.py worker_callback_pb2.pyi worker_callback_pb2_grpc.py; do \
	  diff -u $$tmp/ai_system/rpc/$$f services/ai_system/rpc/$$f || \
	  { echo "services/ai_system/rpc/$$f is stale: run 'make protos'"; exit 1; }; done && \
	echo "gRPC stubs match protos/"

# The Python suites run on PYTEST_PROCESSES processes (pytest-xdist): most of their time is
# spent waiting on real brokers, servers and workers, not on the CPU.
PYTEST_PROCESSES ?= 4
PYTEST := pytest -p no:cacheprovider

test-unit: $(STAMP) test-node test-go test-java
	scripts/ensure-system.sh mosquitto
	cd services && $(PYTEST) -n $(PYTEST_PROCESSES) tests/unit

# Real Mosquitto, master and worker processes (the Go worker among them); the conformance
# suite runs once per worker in test-conformance, the browser tests in test-browser. A
# module's tests share one process (loadscope): some read what the module's earlier tests
# left in a system they share (test_fuzz_live.py).
test-integration: $(STAMP) worker-go
	scripts/ensure-system.sh mosquitto
	cd services && $(PYTEST) -n $(PYTEST_PROCESSES) --dist loadscope tests/integration tests/worker tests/providers

test-browser: $(STAMP)
	scripts/ensure-system.sh mosquitto chromium
	cd services && $(PYTEST) -n 2 tests/browser

# The whole Python suite but the conformance suite, in one command.
test-python: $(STAMP) worker-go
	scripts/ensure-system.sh mosquitto chromium
	cd services && $(PYTEST) -n $(PYTEST_PROCESSES) --dist loadscope --ignore=tests/conformance

# The Node.js worker's unit tests (its providers against the Python tests' LLM stand-in).
test-node: $(NODE_STAMP)
	cd $(NODE_WORKER) && npm test

# The same contract checks against each worker: a real broker and master, the worker as a
# command (WORKER_CMD; see protos/README.md to run them against your own worker).
# $(call conformance,<name>,<worker command>,<health check command>); no command: the Python one.
define conformance
@echo "==> conformance: the $(1) worker"
cd services && WORKER_CMD="$(2)" WORKER_HEALTH_CMD="$(3)" $(PYTEST) -n $(PYTEST_PROCESSES) tests/conformance
endef

test-conformance: $(STAMP) $(NODE_STAMP) worker-go worker-java
	scripts/ensure-system.sh mosquitto
	$(call conformance,Python,,)
	$(call conformance,Node.js,$(NODE_WORKER_CMD),$(NODE_HEALTH_CMD))
	$(call conformance,Go,$(GO_WORKER_CMD),$(GO_WORKER_CMD) -health)
	$(call conformance,Java,$(JAVA_WORKER_CMD),$(JAVA_WORKER_CMD) -health)

# --- the Go worker -----------------------------------------------------------------------
# A static binary from Debian's Go packages, offline; services/worker-go/build.sh says how.
worker-go:
	scripts/ensure-system.sh go
	services/worker-go/build.sh

test-go:
	scripts/ensure-system.sh go
	services/worker-go/build.sh --check

# --- the Java worker ---------------------------------------------------------------------
# Jars compiled against Debian's Java libraries, offline; services/worker-java/build.sh says how.
worker-java:
	scripts/ensure-system.sh java
	services/worker-java/build.sh

test-java:
	scripts/ensure-system.sh java
	services/worker-java/build.sh --check

test-ansible: $(STAMP)
	scripts/check-ansible.sh

# The lab's node image and the stand-ins of the hub images, built on this machine's Docker
# engine from Debian's packages; each is rebuilt only when its recipe changes (docs/testing.md).
lab-images: $(STAMP)
	scripts/ensure-system.sh docker
	MOLECULE_PROJECT_DIRECTORY=$(CURDIR) ansible-playbook -i molecule/resources/inventory \
	  molecule/resources/images.yml

# SCENARIOS=swarm (or default) runs one; scripts/run-tests.py runs them side by side.
test-molecule: $(STAMP) $(NODE_STAMP)
	scripts/ensure-system.sh docker go java
	scripts/test-molecule.sh $(SCENARIOS)

bench: $(STAMP) $(NODE_STAMP) worker-go
	scripts/ensure-system.sh mosquitto
	$(BIN)/python bench/run.py $(BENCH_OPTS)

# Workers 1-16, 1,000 idle sessions, 10,000 queued questions and a newcomer behind them.
bench-scale: $(STAMP)
	scripts/ensure-system.sh mosquitto
	$(BIN)/python bench/scale.py $(BENCH_OPTS)

# The peer a lab would otherwise deploy, Celery on Redis, under the same load (bench/README.md).
# Celery goes into the project's virtualenv from bench/requirements.txt, not the services'.
bench-compare: $(STAMP) $(BENCH_STAMP)
	scripts/ensure-system.sh mosquitto redis
	$(BIN)/python bench/compare.py $(BENCH_OPTS)

# site.yml on four Docker-in-Docker hosts with the lab inventory's variables: from bare hosts to
# an answered chat, then again with nothing to change (bench/converge.py).
bench-converge: lab-images
	scripts/ensure-system.sh go node java
	$(BIN)/python bench/converge.py $(BENCH_OPTS)

$(BENCH_STAMP): $(STAMP) bench/requirements.txt services/constraints.txt
	$(BIN)/pip install -q -c services/constraints.txt -r bench/requirements.txt
	touch $@

# --- operations on a deployed lab -----------------------------------------------------
deploy: $(STAMP)
	ansible-playbook site.yml -i $(INVENTORY) $(ANSIBLE_OPTS)

verify status update rollback stop teardown: $(STAMP)
	ansible-playbook playbooks/$@.yml -i $(INVENTORY) $(ANSIBLE_OPTS)

logs: $(STAMP)
	ansible-playbook playbooks/logs.yml -i $(INVENTORY) $(if $(SERVICE),-e logs_service=$(SERVICE)) \
	  $(if $(NODE),-e logs_node=$(NODE)) $(if $(SINCE),-e logs_since=$(SINCE)) $(ANSIBLE_OPTS)

# SECRETS=<vault password file>: the controller's credentials go in the backup, encrypted with
# it, and come back from it on restore.
backup: $(STAMP)
	ansible-playbook playbooks/backup.yml -i $(INVENTORY) $(if $(SECRETS),-e backup_vault_password_file=$(abspath $(SECRETS))) $(ANSIBLE_OPTS)

restore: $(STAMP)
	@test -n "$(BACKUP)" || { echo "usage: make restore BACKUP=backups/ai-system-<UTC time>"; exit 2; }
	ansible-playbook playbooks/restore.yml -i $(INVENTORY) -e restore_backup=$(abspath $(BACKUP)) \
	  $(if $(SECRETS),-e restore_vault_password_file=$(abspath $(SECRETS))) $(ANSIBLE_OPTS)

scale: $(STAMP)
	@test -n "$(SERVICE)" -a -n "$(REPLICAS)" || { echo "usage: make scale SERVICE=worker-python REPLICAS=8"; exit 2; }
	ansible-playbook playbooks/scale.yml -i $(INVENTORY) -e scale_service=$(SERVICE) -e scale_replicas=$(REPLICAS) $(ANSIBLE_OPTS)

clean:
	rm -rf $(VENV) test-artifacts services/wheelhouse upb-ai_system-*.tar.gz \
	  services/nodehouse services/worker-go/.gopath services/worker-go/ai-worker-go \
	  services/worker-java/build \
	  $(NODE_WORKER)/node_modules
