"""Peak memory decoding one 50 MB-compressed CloudTrail file (the largest file CloudTrail writes).

Each measurement runs in a fresh interpreter (``python -m bench.decode_memory <mode> <path>``), which
imports everything and builds the decoder, records the peak resident set as the interpreter baseline, decodes
the big file and reports how far the peak resident set rose above that baseline:

* ``stream``: :func:`trailwatchd.decode.iter_event_file` reading the file in 256 KiB steps (the
  requirement: < 40 MB above the baseline);
* ``bytes``: the object already in memory as ``bytes`` (what the pipeline hands over after a GetObject),
  reported above baseline plus the object's own size.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

from bench import Figure
from bench.corpus import build_big_file
from trailwatchd.decode import DecodeStats, RecordDecoder, iter_event_file, iter_records

LIMIT_MB = 40


def _peak_rss_bytes() -> int:
    """This process's peak resident set. On Linux ``VmHWM`` is per address space, whereas
    ``ru_maxrss`` keeps the parent's peak across fork+exec and would hide a smaller child peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def _child(mode: str, path: Path) -> None:
    """Runs in the subprocess: prints ``records seconds inflated_bytes baseline peak input_bytes``."""
    decoder = RecordDecoder([])
    data = path.read_bytes() if mode == "bytes" else b""
    baseline = _peak_rss_bytes()  # imports done, decoder built, nothing decoded yet
    stats = DecodeStats()
    started = time.perf_counter()
    source = iter_records(data, name=str(path), decoder=decoder, stats=stats) if data else iter_event_file(
        path, decoder=decoder, stats=stats
    )
    for _ in source:
        pass
    seconds = time.perf_counter() - started
    print(stats.records, seconds, stats.bytes_decompressed, baseline, _peak_rss_bytes(), len(data))


def run(quick: bool) -> list[Figure]:
    """Build (or reuse) the big file and measure both modes in subprocesses."""
    target = 5 * 1024 * 1024 if quick else 50 * 1024 * 1024
    path = build_big_file(target)
    figures = [Figure("file size (gzip)", path.stat().st_size / 1e6, "MB")]
    for mode in ("stream", "bytes"):
        out = subprocess.run(
            [sys.executable, "-m", "bench.decode_memory", mode, str(path)],
            check=True, capture_output=True, text=True,
        ).stdout.split()
        records, seconds, inflated, baseline, peak, held = int(out[0]), float(out[1]), *map(int, out[2:])
        above = (peak - baseline) / 2**20
        if mode == "stream":
            figures.append(Figure("inflated size", inflated / 1e6, "MB", f"{records:,} records"))
            figures.append(Figure("interpreter baseline (peak RSS)", baseline / 2**20, "MiB"))
            verdict = "ok" if above < LIMIT_MB else f"OVER the {LIMIT_MB} MiB budget"
            figures.append(Figure("peak above baseline, streaming from file", above, "MiB", verdict))
            figures.append(Figure("  decode rate in that run", records / seconds, "events/s"))
        else:
            note = f"the {held / 2**20:.0f} MiB object is in the baseline"
            figures.append(Figure("peak above baseline, object in memory", above, "MiB", note))
    return figures


if __name__ == "__main__":
    _child(sys.argv[1], Path(sys.argv[2]))
