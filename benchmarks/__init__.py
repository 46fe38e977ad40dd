"""Performance and quality benchmarks (not timed tests); each module prints a table."""
