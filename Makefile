# Earshot: one command for each job. `make run` and `make test` set up a fresh machine themselves.
.PHONY: help run test lint typecheck bench bench-live bench-latency bench-monitor bench-reports bench-retroactive growth faults faults-monitor fuzz fuzz-api abuse long report

help:
	@echo "make run        install what is missing, migrate, load the demo catalog, serve http://127.0.0.1:8000"
	@echo "make test       install what is missing, then lint, typecheck and the whole test suite (what CI runs)"
	@echo "make lint       ruff check + format check, import contracts (lint-imports), bandit (medium and high fail)"
	@echo "make typecheck  mypy with django-stubs"
	@echo "make bench      accuracy / speed / storage against Dejavu on real music (~75 min)"
	@echo "make bench-live time to answer, websocket load (1/10/25), API load (4/8 clients); after bench (~6 min)"
	@echo "make bench-latency file to answer, before and after issue 39: recognize, formats, batch, API, ingest (~30 min)"
	@echo "make bench-monitor  monitors on live loopback streams: delay, misses, false detections, CPU, capacity (~25 min)"
	@echo "make bench-reports a month's report at 10^6 detections and 10^6 plays (~20 min)"
	@echo "make bench-retroactive  a week of a stream's retained history searched for 10 new tracks (~25 min)"
	@echo "make growth     query latency as the catalog grows to 3e8 hashes (1e8 triplet rows); after bench (~20 min, ~15 GB)"
	@echo "make faults     ingest fault trials: kill, terminate backend, stop PostgreSQL (scratch cluster; ~10 min)"
	@echo "make faults-monitor monitor faults: worker killed, stream server and PostgreSQL restarted (scratch cluster; ~8 min)"
	@echo "make fuzz       atheris fuzz targets, FUZZ_SECONDS each (default 120: ~6 min)"
	@echo "make fuzz-api   schemathesis against the OpenAPI schema on a throwaway database (~5 min)"
	@echo "make abuse      canary recognitions while hostile files, body floods and socket abuse run; after bench (~3 min)"
	@echo "make long       faults, fuzz, fuzz-api, bench-live, abuse (after bench, ~30 min)"
	@echo "make report     docs/benchmarks.md and the docs' result blocks from bench/results (seconds)"

run:
	scripts/run.sh

test:
	scripts/test.sh

lint:
	scripts/bootstrap.sh test
	scripts/lint.sh

typecheck:
	scripts/bootstrap.sh test
	DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-typecheck-only}" .venv/bin/mypy

bench:
	scripts/bench.sh

bench-live:
	scripts/bootstrap.sh test
	.venv/bin/python -m bench.live answer
	.venv/bin/python -m bench.live ws-load
	.venv/bin/python -m bench.live api-load

bench-latency:
	scripts/bootstrap.sh test
	scripts/soundtracks.sh
	.venv/bin/python -m bench.latency

bench-monitor:
	scripts/bench_monitor.sh

bench-reports:
	scripts/bootstrap.sh test
	.venv/bin/python -m bench.reports

bench-retroactive:
	scripts/bootstrap.sh test
	scripts/soundtracks.sh
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python -m bench.retroactive

growth:
	scripts/bootstrap.sh test
	.venv/bin/python -m bench.growth

faults:
	scripts/faults.sh

faults-monitor:
	scripts/bench_monitor.sh faults

fuzz:
	scripts/fuzz.sh

fuzz-api:
	scripts/fuzz_api.sh

abuse:
	scripts/bootstrap.sh test
	.venv/bin/python -m bench.abuse

long: faults fuzz fuzz-api bench-live abuse

report:
	scripts/bootstrap.sh test
	.venv/bin/python -m bench.report
