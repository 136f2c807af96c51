"""Tools still used for tuning the engine, run as `python -m bench.studies.<name>`.

Their output is for choosing parameters, not for quoting (the benchmark's figures come from
`bench.run`); what a study or an A/B run printed is kept in bench/results/studies/, where
docs/decisions.md cites it.
"""
