"""The Debian ``prometheus`` package's binaries for tests: required in CI, a visible skip elsewhere."""

from __future__ import annotations

import os
import shutil

import pytest


def prometheus_binary(name: str) -> str:
    """Path of ``promtool`` or ``prometheus``. ``make test`` installs the package and sets
    TRAILWATCHD_REQUIRE_PROMTOOL=1, so CI fails instead of skipping when it is missing."""
    found = shutil.which(name)
    if found is None:
        if os.environ.get("TRAILWATCHD_REQUIRE_PROMTOOL"):
            pytest.fail(f"{name} is required (TRAILWATCHD_REQUIRE_PROMTOOL=1): apt-get install prometheus")
        pytest.skip(f"{name} not installed (Debian package prometheus)")
    return found
