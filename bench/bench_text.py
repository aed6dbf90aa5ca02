"""Free-text reader benchmarks: field agreement, differential agreement, speed.

The test set is the real published cases of ``tests/data/real_cases``: each item's
``description`` (the project's own words, diagnosis removed) and its hand
transcription ``case``. ``text_split.yaml`` there names the files the lexicon
was developed on and the files held out (never read while writing the lexicon).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from calcdx.errors import TextError
from calcdx.reasoning import default_engine
from calcdx.text import TextReader
from calcdx.text.scoring import (
    MIN_SUPPORT,
    PRECISION_TARGET,
    RECALL_TARGET,
    TOP3_GAP_TARGET,
    Evaluation,
    evaluate_descriptions,
)

REAL = Path(__file__).parents[1] / "tests" / "data" / "real_cases"
_SPLIT = yaml.safe_load((REAL / "text_split.yaml").read_text("utf-8"))
SETS = tuple((name, "development") for name in _SPLIT["development"]) + tuple(
    (name, "held out") for name in _SPLIT["held_out"])


def load_items(name: str) -> list[dict[str, Any]]:
    """The items of one real-case file (empty when the file is not there yet)."""
    path = REAL / name
    if not path.exists():
        return []
    return list(yaml.safe_load(path.read_text("utf-8")) or [])


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _table(result: Evaluation) -> list[str]:
    agreement = result.agreement
    lines = [
        "| field group | transcribed items | precision | recall | judged |",
        "|---|---:|---:|---:|---|",
    ]
    for group in agreement.groups():
        support = agreement.support(group)
        p, r = agreement.precision(group), agreement.recall(group)
        if support < MIN_SUPPORT:
            verdict = f"too few items (< {MIN_SUPPORT})"
        else:
            ok = (p or 0) >= PRECISION_TARGET and (r or 0) >= RECALL_TARGET
            verdict = "meets" if ok else "below target"
        lines.append(f"| {group} | {support} | {_fmt(p)} | {_fmt(r)} | {verdict} |")
    gap = result.top3_hand - result.top3_text
    lines += [
        "",
        f"Differential top-3 (truth = the published diagnosis): from the text "
        f"{result.top3_text:.3f}, from the hand transcription {result.top3_hand:.3f} "
        f"(gap {gap:+.3f}; target gap <= {TOP3_GAP_TARGET}). Descriptions refused as "
        f"unreadable: {result.refused} of {result.n}.",
        "",
    ]
    return lines


def _latency(reader: TextReader, texts: list[str]) -> tuple[float, float]:
    times = []
    for text in (texts * (1 + 400 // max(len(texts), 1)))[:400]:
        start = time.perf_counter()
        try:
            reader.read(text)
        except TextError:  # a refused description is timed like any other
            pass
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def _cli_batch(texts: list[str], n: int = 1000) -> float:
    with tempfile.TemporaryDirectory() as folder:
        notes = Path(folder) / "notes.txt"
        notes.write_text("\n".join((texts * (1 + n // len(texts)))[:n]) + "\n", "utf-8")
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "calcdx.cli.main", "parse", "--json", str(notes)],
            check=False,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - start


def run() -> list[str]:
    """Benchmark lines for BENCHMARKS.md."""
    start = time.perf_counter()
    reader = TextReader()
    build_s = time.perf_counter() - start
    lines = ["## Free-text reader (`calcdx parse`)", ""]
    texts: list[str] = []
    for name, role in SETS:
        items = load_items(name)
        if not items:
            lines += [f"`{name}` ({role}): not present yet.", ""]
            continue
        texts += [item["description"] for item in items]
        lines += [f"### `{name}` ({role}, {len(items)} real published cases)", ""]
        if role == "held out":
            lines += [
                "The lexicon was written and adjusted on the development files only "
                f"({', '.join(_SPLIT['development'])}); these cases were not read while "
                "developing it.",
                "",
            ]
        lines += _table(evaluate_descriptions(reader, default_engine(), items))
    for role in ("development", "held out"):
        pooled = [item for name, r in SETS if r == role for item in load_items(name)]
        if pooled:
            names = ", ".join(name for name, r in SETS if r == role)
            lines += [f"### All {role} cases pooled ({names}: {len(pooled)} cases)", ""]
            lines += _table(evaluate_descriptions(reader, default_engine(), pooled))
    if not texts:
        texts = ["A 4 cm peripherally calcified mass in the thigh; no periosteal reaction."]
    median_ms, p95_ms = _latency(reader, texts)
    batch_s = _cli_batch(texts)
    lines += [
        "| Speed | Value | Target |",
        "|---|---|---|",
        f"| build the pipeline (once per process), s | {build_s:.2f} | - |",
        f"| in-process parse latency per description, median ms (p95) | {median_ms:.2f} "
        f"({p95_ms:.2f}) | median <= 20 ms |",
        f"| CLI batch of 1,000 descriptions (`calcdx parse --json`, new process), s | "
        f"{batch_s:.2f} | < 10 s |",
        "",
    ]
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
