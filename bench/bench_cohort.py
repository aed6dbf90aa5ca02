"""Cohort throughput on dask.distributed: 40 studies on one worker, then on two.

The 40 studies are phantoms of varied seeds (half of them contrast-enhanced) plus every
shared real CT (``../shared/realct``). Each configuration starts from an empty output
folder, so both do the same work.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from calcdx.cohort import analyze_cohort
from calcdx.phantom import make_phantom

REALCT = Path(__file__).resolve().parents[1] / ".." / "shared" / "realct"
N_STUDIES = 40


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


def run() -> list[str]:
    """Run both configurations; return the BENCHMARKS.md section."""
    root = Path(tempfile.mkdtemp(prefix="calcdx-bench-cohort-"))
    try:
        manifest = _inputs(root)
        rows = {}
        for workers in (1, 2):
            out = root / f"out{workers}"
            start = time.perf_counter()
            run_, _ = analyze_cohort(manifest, out, n_workers=workers, followup=False)
            seconds = time.perf_counter() - start
            done = [r for r in run_.records if r["status"] == "done"]
            rows[workers] = (seconds, len(done), run_.failed,
                             max(r.get("worker_peak_rss_mb") or 0.0 for r in run_.records))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    one, two = rows[1], rows[2]
    lines = [
        "## Cohort on dask.distributed (`calcdx cohort`)",
        "",
        f"{N_STUDIES} studies (phantoms of varied seeds, half contrast-enhanced, plus every "
        "shared real CT), `LocalCluster` with one thread per worker, follow-up off, from an "
        "empty output folder each time.",
        "",
        "| workers | wall time (s) | studies/min | done | failed | peak RSS per worker (MiB) |",
        "|---|---|---|---|---|---|",
    ]
    for workers, (seconds, done, failed, rss) in rows.items():
        lines.append(f"| {workers} | {seconds:.1f} | {60 * N_STUDIES / seconds:.1f} | {done} | "
                     f"{len(failed)} | {rss:.0f} |")
    lines += ["", f"Throughput with 2 workers: {one[0] / two[0]:.2f}x one worker "
              "(target >= 1.7x on 2 cores).", ""]
    for record in two[2]:
        lines.append(f"- failed: {record['study_id']}: {record['error']}")
    return [*lines, ""]
