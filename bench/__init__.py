"""civicgrid benchmarks: our code against the engine underneath it, in the same run.

Run with `python -m bench` (or `make bench`); results go to bench/RESULTS.md, one section per
benchmark, so each benchmark refreshes its own section and leaves the others alone.
"""
