"""Speed benchmarks (`make bench`): see benchmarks/README.md. Not part of the test timing.

Installed with the project: `lineage study` runs `benchmarks.speed` as a function.
"""
