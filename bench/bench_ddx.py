"""Differential-engine benchmarks: single-case latency and batch throughput."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from calcdx.case import parse_case
from calcdx.reasoning import default_engine

CASES = Path(__file__).parents[1] / "tests" / "data" / "literature_cases.yaml"


def _raw_cases() -> list[dict[str, object]]:
    return [item["case"] for item in yaml.safe_load(CASES.read_text())]


def run() -> list[str]:
    """Measure and return markdown lines."""
    raw = _raw_cases()
    engine = default_engine()
    engine.diagnose(parse_case(raw[0]))  # warm-up: compiled tables built once per process
    samples = []
    for _ in range(6):
        for case in raw:
            start = time.perf_counter()
            engine.diagnose(parse_case(case))
            samples.append(time.perf_counter() - start)
    in_process = np.array(samples) * 1e3

    cli = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "case.json"
        path.write_text(json.dumps(raw[0]))
        exe = [sys.executable, "-m", "calcdx.cli.main", "ddx", "--json", str(path)]
        for _ in range(15):
            start = time.perf_counter()
            subprocess.run(exe, check=True, capture_output=True)
            cli.append(time.perf_counter() - start)
    cli_ms = np.array(cli) * 1e3

    batch = (raw * (10_000 // len(raw) + 1))[:10_000]
    start = time.perf_counter()
    parsed = [parse_case(case) for case in batch]
    results = engine.diagnose_many(parsed)
    batch_s = time.perf_counter() - start
    start = time.perf_counter()
    for result in results:
        json.dumps(result.to_dict())
    json_s = time.perf_counter() - start

    def pct(values: np.ndarray, q: float) -> str:
        return f"{np.percentile(values, q):.3f}"

    return [
        "## Differential engine (`calcdx ddx`)",
        "",
        f"Knowledge base: {engine.model.n_entities} entities; cases: the literature set "
        f"({len(raw)} cases), cycled.",
        "",
        "| Measure | Median | p95 | Target |",
        "|---|---|---|---|",
        f"| In-process latency per case (parse + diagnose), ms | {pct(in_process, 50)} | "
        f"{pct(in_process, 95)} | median <= 2 ms |",
        f"| CLI latency per case (`calcdx ddx --json`, new process), ms | {pct(cli_ms, 50)} | "
        f"{pct(cli_ms, 95)} | - |",
        "",
        "| Batch of 10,000 cases (one process) | Value | Target |",
        "|---|---|---|",
        f"| parse + diagnose_many, cases/s | {10_000 / batch_s:,.0f} | >= 5,000 |",
        f"| ... plus JSON serialisation of every differential, cases/s | "
        f"{10_000 / (batch_s + json_s):,.0f} | - |",
        "",
    ]
