"""Performance and quality benchmarks, run by ``python -m benchmarks``: each section module returns tables."""
