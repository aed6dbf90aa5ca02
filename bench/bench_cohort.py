"""Cohort throughput on dask.distributed: 40 studies on one worker, then on two.

The 40 studies are phantoms of varied seeds (half of them contrast-enhanced) plus every
shared real CT (``../shared/realct``). Each configuration starts from an empty output
folder, so both do the same work.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from calcdx.cohort import analyze_cohort
from calcdx.phantom import make_phantom

REALCT = Path(__file__).resolve().parents[1] / ".." / "shared" / "realct"
N_STUDIES = 40
REPEATS = 2


def _inputs(root: Path) -> Path:
    real = []
    if REALCT.is_dir():
        real = sorted(p for p in REALCT.iterdir()
                      if (p.name.endswith(".nii.gz") and "totalseg" not in p.name) or p.is_dir())
    lines = ["path,subject,timepoint"]
    for path in real:
        lines.append(f"{path.resolve()},real-{path.name.split('.')[0]},0")
    for seed in range(N_STUDIES - len(real)):
        phantom = make_phantom(seed=seed, contrast=bool(seed % 2))
        target = root / f"phantom{seed:02d}.nii.gz"
        nib.save(nib.Nifti1Image(np.asarray(phantom.volume.hu), phantom.volume.affine), target)
        lines.append(f"{target},P{seed // 2},{seed % 2}")
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def _load() -> float:
    return os.getloadavg()[0]


def _one_run(manifest: Path, out: Path, workers: int) -> dict[str, Any]:
    load = _load()
    start = time.perf_counter()
    run_, _ = analyze_cohort(manifest, out, n_workers=workers, followup=False)
    seconds = time.perf_counter() - start
    peak: dict[int, float] = {}
    for record in run_.records:
        pid = record.get("pid", 0)
        peak[pid] = max(peak.get(pid, 0.0), record.get("worker_peak_rss_mb") or 0.0)
    return {
        "workers": workers, "seconds": seconds, "load": (load, _load()),
        "done": sum(r["status"] == "done" for r in run_.records), "failed": run_.failed,
        "cpu": sum(r.get("cpu_seconds") or 0.0 for r in run_.records),
        "peak": max(peak.values(), default=0.0), "n_pids": len(peak),
    }


def run(repeats: int = REPEATS) -> list[str]:
    """Run both configurations ``repeats`` times, alternating; return the BENCHMARKS.md section.

    The best wall time of each configuration is compared (the machine is shared: a run
    slowed by other work says nothing about calcdx); every run is listed with the
    1-minute load average at its start and end.
    """
    root = Path(tempfile.mkdtemp(prefix="calcdx-bench-cohort-"))
    runs: list[dict[str, Any]] = []
    try:
        manifest = _inputs(root)
        for attempt in range(repeats):
            for workers in (1, 2):
                out = root / f"out{workers}-{attempt}"
                runs.append(_one_run(manifest, out, workers))
                shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return _section(runs, repeats)


def _section(runs: list[dict[str, Any]], repeats: int) -> list[str]:
    """The BENCHMARKS.md section from the runs of :func:`_one_run`."""
    best = {w: min((r for r in runs if r["workers"] == w), key=lambda r: r["seconds"])
            for w in (1, 2)}
    lines = [
        "## Cohort on dask.distributed (`calcdx cohort`)",
        "",
        f"{N_STUDIES} studies (phantoms of varied seeds, half contrast-enhanced, plus every "
        "shared real CT), `LocalCluster` with one thread per worker, follow-up off, from an "
        "empty output folder each time; tables and cohort report included. "
        f"{repeats} runs of each configuration, alternating; the machine is shared, so the "
        "1-minute load average is given at the start and end of each run (2 cores: a load "
        "above 2 means other work was competing).",
        "",
        "| run | workers | load start/end | wall time (s) | studies/min | done | failed "
        "| CPU per study (s) | cores used | peak RSS per worker (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, r in enumerate(runs, 1):
        lines.append(
            f"| {n} | {r['workers']} | {r['load'][0]:.2f} / {r['load'][1]:.2f} | "
            f"{r['seconds']:.1f} | {60 * N_STUDIES / r['seconds']:.1f} | {r['done']} | "
            f"{len(r['failed'])} | {r['cpu'] / N_STUDIES:.2f} | {r['cpu'] / r['seconds']:.2f} | "
            f"{r['peak']:.0f} |")
    one, two = best[1], best[2]
    lines += [
        "",
        f"Throughput with 2 workers (best runs): {one['seconds'] / two['seconds']:.2f}x one "
        "worker (target >= 1.7x on 2 cores). CPU time per study with 2 workers running "
        f"side by side: {two['cpu'] / max(one['cpu'], 1e-9):.2f}x that of one worker alone. "
        "Cores used = the studies' CPU time over the wall time: how much of the machine the "
        "run actually got (at most 1 with one worker, 2 with two).",
        "",
    ]
    for record in two["failed"]:
        lines.append(f"- failed: {record['study_id']}: {record['error']}")
    return [*lines, ""]
