"""Run every benchmark module of the package and print its figures.

    python -m bench            # full run (first run also builds the corpus, ~1 minute)
    python -m bench --quick    # smaller data, for a smoke test
    python -m bench decode_speed   # only the named modules
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import bench


def benchmark_modules() -> list[str]:
    """Modules of ``bench`` that define ``run`` (found, not listed, so adding one needs no edit here)."""
    names = []
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name == "corpus":
            continue
        if hasattr(importlib.import_module(f"bench.{info.name}"), "run"):
            names.append(info.name)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmark modules to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="less data: a smoke test, not a measurement")
    args = parser.parse_args(argv)
    available = benchmark_modules()
    unknown = sorted(set(args.names) - set(available))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}")
    started = time.perf_counter()
    for name in args.names or available:
        module = importlib.import_module(f"bench.{name}")
        print(f"{name}: {(module.__doc__ or '').strip().splitlines()[0]}", flush=True)
        for figure in module.run(args.quick):
            print(figure.line(), flush=True)
    print(f"done in {time.perf_counter() - started:.0f} s (python {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
