# Earshot: one command for each job. `make run` and `make test` set up a fresh machine themselves.
.PHONY: help run test lint typecheck bench bench-live growth faults fuzz fuzz-api abuse long

help:
	@echo "make run        install what is missing, migrate, load the demo catalog, serve http://127.0.0.1:8000"
	@echo "make test       install what is missing, then lint, typecheck and the whole test suite (what CI runs)"
	@echo "make lint       ruff check + format check, import contracts (lint-imports), bandit (medium and high fail)"
	@echo "make typecheck  mypy with django-stubs"
	@echo "make bench      accuracy / speed / storage against Dejavu on real music (~75 min)"
	@echo "make bench-live time to answer, websocket load (1/10/25), API load (4/8 clients); after bench"
	@echo "make growth     query latency as the catalog grows to 3e8 hashes (1e8 triplet rows); after bench (~20 min, ~15 GB)"
	@echo "make faults     ingest fault trials: kill, terminate backend, stop PostgreSQL (scratch cluster)"
	@echo "make fuzz       atheris fuzz targets, FUZZ_SECONDS each (default 120)"
	@echo "make fuzz-api   schemathesis against the OpenAPI schema on a throwaway database"
	@echo "make abuse      canary recognitions while hostile files, body floods and socket abuse run"
	@echo "make long       faults, fuzz, fuzz-api, bench-live, abuse (after bench)"

run:
	scripts/run.sh

test:
	scripts/test.sh

lint:
	scripts/bootstrap.sh test
	scripts/lint.sh

typecheck:
	scripts/bootstrap.sh test
	.venv/bin/mypy

bench:
	scripts/bench.sh

bench-live:
	scripts/bootstrap.sh test
	.venv/bin/python bench/live.py answer
	.venv/bin/python bench/live.py ws-load
	.venv/bin/python bench/live.py api-load

growth:
	scripts/bootstrap.sh test
	.venv/bin/python bench/growth.py

faults:
	scripts/faults.sh

fuzz:
	scripts/fuzz.sh

fuzz-api:
	scripts/fuzz_api.sh

abuse:
	scripts/bootstrap.sh test
	.venv/bin/python bench/abuse.py

long: faults fuzz fuzz-api bench-live abuse
