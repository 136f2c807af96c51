"""Tools still used for tuning the engine: run as `python -m bench.studies.<name>`; their output is
for choosing parameters, not for quoting (the benchmark's figures come from `bench.run`)."""
