"""The `make bench` suite: workloads W1–W4, measured and tabulated (see benchmarks/README.md).

Each workload module has ``run(opts) -> list[Figure]``; :mod:`benchmarks.run` runs them, prints
one table and writes the figures as JSON for a later ``--compare``.
"""
