"""Benchmarks against MariaDB; each module runs with `.venv/bin/python -m bench.<name>`."""
