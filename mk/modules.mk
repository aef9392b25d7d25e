# The modules' integration tier needs PostgreSQL (Debian's packages; the tests start their own cluster on a
# free loopback port). The Vault API is OpenBao and S3 is moto's server mode, both installed with the dev
# extras (tests/testenv/openbao.py starts `bao server -dev`).
.PHONY: modules-testenv modules-postgres bench-modules

modules-testenv: modules-postgres

modules-postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then echo "[modules] PostgreSQL present"; \
	else apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; fi

# Benchmarks (see docs/performance.md); ROWS=10000000 by default.
ROWS ?= 10000000
bench-modules: install
	cd benchmarks && ../$(BIN)/python bench_flight_transforms.py --rows $(ROWS)
	cd benchmarks && ../$(BIN)/python bench_flight_memory.py --rows $(ROWS)
	cd benchmarks && ../$(BIN)/python bench_copy.py --rows $(ROWS)

SERVERS += modules-testenv
