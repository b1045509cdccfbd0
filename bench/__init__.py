"""Reproducible benchmarks that print figures and ratios: ``python -m bench``.

Every module in this package that defines ``run(quick: bool) -> list[Figure]`` is a benchmark;
``__main__`` runs them in name order and prints their figures. Data comes from :mod:`bench.corpus`
(seeded, cached under ``bench/.data/``), so two runs on one machine measure the same bytes. Timings take
the best of a few repeats: the machine is shared, and the minimum is the least disturbed run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured number, printed as ``name  value unit  (note)``."""

    name: str
    value: float
    unit: str
    note: str = ""

    def line(self) -> str:
        number = f"{self.value:,.0f}" if abs(self.value) >= 100 else f"{self.value:,.2f}"
        return f"  {self.name:<44} {number:>12} {self.unit:<10} {self.note}".rstrip()


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    """The shortest wall time of ``repeats`` calls of ``fn``, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best
