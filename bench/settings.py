"""The application's settings plus the benchmark's floor view (bench/urls.py)."""

from volx.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
