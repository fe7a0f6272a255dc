"""Load and throughput harnesses for the opsapi engine (run them as ``python -m bench.…``)."""
