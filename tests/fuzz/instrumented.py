"""Which modules the fuzz targets instrument for coverage: Earshot's own packages only.

numpy and scipy do their work in C, which atheris does not instrument anyway; instrumenting their
Python as well took over a minute a target before the first input ran, in `make fuzz` and in
every replay of tests/test_fuzz_replay.py.
"""

PACKAGES = ["accounts", "catalog", "portal", "recognition"]
