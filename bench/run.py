"""``make bench``: run every benchmark and write BENCHMARKS.md with the machine and date.

``python -m bench.run bench_ddx_real bench_text`` runs only the named benchmarks and
replaces their sections of an existing BENCHMARKS.md in place, each marked with the
date it was measured; the other sections keep their own dates.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform
import sys
from pathlib import Path

import numpy as np

MODULES = [
    "bench.bench_ddx", "bench.bench_ddx_real", "bench.bench_analyze", "bench.bench_patterns",
    "bench.bench_web", "bench.bench_cohort", "bench.bench_text", "bench.bench_realct",
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


def _machine() -> str:
    return (
        f"Machine: {platform.system()} {platform.machine()}, {_cpu()}, {os.cpu_count()} cores, "
        f"{_memory_gib()} RAM; Python {platform.python_version()}, numpy {np.__version__}."
    )


def _sections(text: str) -> list[list[str]]:
    """The file split before each ``## `` heading (the first part is the preamble)."""
    parts: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.startswith("## "):
            parts.append([])
        parts[-1].append(line)
    return parts


def update(names: list[str]) -> None:
    """Run the named benchmarks and replace their sections of BENCHMARKS.md."""
    parts = _sections(TARGET.read_text("utf-8")) if TARGET.exists() else [["# Benchmarks", ""]]
    stamp = f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. {_machine()}"
    for name in names:
        module = importlib.import_module(f"bench.{name.removeprefix('bench.')}")
        print(f"running {name} ...", flush=True)
        new = _sections("\n".join(module.run()))[1:]
        for section in new:
            section[1:1] = ["", stamp]
            if section[-1] != "":
                section.append("")
            at = [i for i, old in enumerate(parts) if old and old[0] == section[0]]
            if at:
                parts[at[0]] = section
            else:
                parts.append(section)
    TARGET.write_text("\n".join(line for part in parts for line in part) + "\n", "utf-8")
    print(f"updated {TARGET.name}: {', '.join(names)}")


def main() -> None:
    """Run the benchmarks and write the report."""
    if len(sys.argv) > 1:
        update(sys.argv[1:])
        return
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        _machine(),
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
