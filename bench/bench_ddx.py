"""Differential-engine benchmarks: latency, batch throughput, accuracy and calibration.

Calibration is measured on the literature set (each case's truth is the
published diagnosis): top-1 accuracy against the mean top-1 probability, the
expected calibration error over five probability bins and the multi-class Brier
score. The set was written from the same research notes as the knowledge base,
so these figures are optimistic for unseen cases.
"""

from __future__ import annotations

import itertools
import json
import os
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


def _calibration(engine: object) -> list[str]:
    """Accuracy and calibration lines for the literature set."""
    from calcdx.reasoning.differential import Engine

    assert isinstance(engine, Engine)
    items = yaml.safe_load(CASES.read_text())
    results = engine.diagnose_many([parse_case(item["case"]) for item in items])
    ids = list(engine.model.entity_ids)
    top_p, hit, brier, ranks = [], [], [], []
    for item, result in zip(items, results, strict=True):
        probabilities = np.array([result.probabilities[e] for e in ids])
        truth = np.zeros(len(ids))
        truth[ids.index(item["truth"])] = 1.0
        order = [r.entity for r in result.ranked]
        ranks.append(order.index(item["truth"]) if item["truth"] in order else len(ids))
        top_p.append(result.ranked[0].probability)
        hit.append(float(order[0] == item["truth"]))
        brier.append(float(np.sum((probabilities - truth) ** 2)))
    p, y = np.array(top_p), np.array(hit)
    edges = np.linspace(0.0, 1.0, 6)
    rows, ece = [], 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = (p > lo) & (p <= hi) if lo > 0 else (p >= lo) & (p <= hi)
        if inside.any():
            gap = abs(p[inside].mean() - y[inside].mean())
            ece += inside.mean() * gap
            rows.append(f"| {lo:.1f}-{hi:.1f} | {int(inside.sum())} | {p[inside].mean():.3f} "
                        f"| {y[inside].mean():.3f} |")
    ranks_arr = np.array(ranks)
    return [
        "### Accuracy and calibration (literature set)",
        "",
        f"{len(items)} cases, truth = the published diagnosis. "
        f"Top-1 {np.mean(ranks_arr == 0):.3f}, top-3 {np.mean(ranks_arr < 3):.3f}; "
        f"mean top-1 probability {p.mean():.3f}; expected calibration error (5 bins) "
        f"{ece:.3f}; Brier score {np.mean(brier):.3f} (0 is perfect, 2 the worst). "
        "The cases were written from the same research notes as the knowledge base, so "
        "these figures are optimistic for unseen cases.",
        "",
        "| top-1 probability | cases | mean top-1 probability | top-1 accuracy |",
        "|---|---:|---:|---:|",
        *rows,
        "",
    ]


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
    start, cpu_start = time.perf_counter(), time.process_time()
    parsed = [parse_case(case) for case in batch]
    results = engine.diagnose_many(parsed)
    batch_s = time.perf_counter() - start
    batch_cpu_s = time.process_time() - cpu_start
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
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
        f"| ... the same per CPU-second of the process (load average {load:.1f} on "
        f"{os.cpu_count()} cores while measured) | {10_000 / batch_cpu_s:,.0f} | - |",
        f"| ... plus JSON serialisation of every differential, cases/s | "
        f"{10_000 / (batch_s + json_s):,.0f} | - |",
        "",
        *_calibration(engine),
    ]
