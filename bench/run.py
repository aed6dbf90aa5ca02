"""``make bench``: run every benchmark and write BENCHMARKS.md with the machine and date."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform
from pathlib import Path

import numpy as np

MODULES = [
    "bench.bench_ddx", "bench.bench_ddx_real", "bench.bench_analyze", "bench.bench_patterns",
    "bench.bench_web", "bench.bench_cohort", "bench.bench_text",
]
TARGET = Path(__file__).parents[1] / "BENCHMARKS.md"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> str:
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return f"{pages / 2**30:.0f} GiB"
    except (ValueError, OSError):
        return "unknown"


def main() -> None:
    """Run the benchmarks and write the report."""
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"Machine: {platform.system()} {platform.machine()}, {_cpu()}, {os.cpu_count()} cores, "
        f"{_memory_gib()} RAM; Python {platform.python_version()}, numpy {np.__version__}.",
        "",
    ]
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        print(f"running {name} ...", flush=True)
        lines += module.run()
    TARGET.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {TARGET.name}")


if __name__ == "__main__":
    main()
