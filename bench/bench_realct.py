"""Real-CT benchmark: every shared scan against TotalSegmentator, and real-anatomy speed.

Per scan (``../shared/realct``, see its README): lesions, reported volume, the
ratio to the mineral outside TotalSegmentator's bone classes (dilated one
voxel), the same against the strict reference (without unlabelled bone and
blood, :mod:`calcdx.phantom.realct`), the share of reported voxels inside
those classes, skeleton Dice, the contrast call against the known phase, wall
time and peak memory (each scan in a fresh process, ``ru_maxrss``).
Scoring: :mod:`calcdx.phantom.realct`.

Speed: the shared DICOM series (512 x 512 x 20, 2 mm steps) resampled with
linear interpolation to 512 x 512 x 400 (400 slices over the same extent) plus
Gaussian noise of SD 15 HU (seed 0), int16. The floor and
the analysis are the two modes of :mod:`bench.bench_analyze`, run in the same
``make bench``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_analyze import _spawn

FOLDER = Path(__file__).resolve().parents[1] / ".." / "shared" / "realct"
SPEED_SOURCE = "ts_chest_abdomen_dicom"
SPEED_SHAPE = (512, 512, 400)
NOISE_SD_HU = 15.0


def _child_scan(name: str) -> None:
    import resource

    from calcdx.phantom.realct import SHARED_SCANS, run_shared_scan

    (scan,) = [s for s in SHARED_SCANS if s.name == name]
    t0 = time.perf_counter()
    out = run_shared_scan(FOLDER, scan)
    total = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"total_s": total, "peak_mb": peak_mb, **out.model_dump()}))


def _child_make(workdir: str) -> None:
    import numpy as np
    from scipy import ndimage as ndi

    from calcdx.io import read_volume

    vol = read_volume(FOLDER / SPEED_SOURCE)
    factors = [t / s for t, s in zip(SPEED_SHAPE, vol.shape, strict=True)]
    hu = ndi.zoom(np.asarray(vol.hu, dtype=np.float32), factors, order=1)
    hu += np.random.default_rng(0).normal(0.0, NOISE_SD_HU, hu.shape).astype(np.float32)
    affine = vol.affine.copy()
    affine[:3, :3] = affine[:3, :3] / np.asarray(factors)
    np.save(Path(workdir) / "hu.npy", np.round(hu).astype(np.int16))
    np.save(Path(workdir) / "affine.npy", affine)
    print(json.dumps({"shape": list(hu.shape)}))


def _spawn_here(*args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_realct", *args],
        check=True, capture_output=True, text=True, cwd=Path(__file__).parents[1],
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _fmt(value: object, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def run() -> list[str]:
    """Measure and return markdown lines."""
    from calcdx.phantom.realct import SHARED_SCANS

    lines = ["## Real CT (`../shared/realct`)", ""]
    if not FOLDER.is_dir():
        return [*lines, "The shared real-CT folder is absent; nothing measured.", ""]
    lines += [
        "TotalSegmentator `total` labels as reference where given. Targets: <= 2 % of "
        "reported voxels in bone, ratio 0.5-2, Dice >= 0.85, contrast call right. The strict "
        "reference leaves out what is provably bone or blood that TotalSegmentator did not "
        "label, the same rules on every scan (calcdx.phantom.realct): unlabelled mineral "
        "26-connected to its bone classes through unlabelled mineral at least as dense as "
        "the median of the mineral inside them (not on an enhancing label's wall), with its "
        "one-voxel rim; in contrast scans, unlabelled mineral under an enhancing label's "
        "plaque threshold (median + 150 HU) 26-connected to that label. Both ratios are "
        "shown; the targets are read on the first.",
        "",
        "| scan | lesions | volume (mm^3) | reference (mm^3) | ratio | strict reference "
        "(mm^3) | strict ratio | % in bone | Dice "
        "| contrast call | time (s) | peak memory (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for scan in SHARED_SCANS:
        r = _spawn_here("scan", scan.name)
        score = r.get("score") or {}
        assert isinstance(score, dict)
        if r.get("error"):
            call = f"refused: {str(r['error'])[:60]}..."
        else:
            right = r.get("contrast_right")
            call = ("enhanced" if r.get("enhanced") else "native") + (
                "" if right is None else (" (right)" if right else " (WRONG)"))
        lines.append(
            f"| {scan.name} | {_fmt(r.get('n_lesions'), 'd')} "
            f"| {_fmt(r.get('volume_mm3'), ',.0f')} "
            f"| {_fmt(score.get('reference_mm3'), ',.0f')} | {_fmt(score.get('ratio'), '.2f')} "
            f"| {_fmt(score.get('strict_reference_mm3'), ',.0f')} "
            f"| {_fmt(score.get('strict_ratio'), '.2f')} "
            f"| {_fmt(score.get('pct_in_bone'), '.1f')} | {_fmt(score.get('dice'), '.3f')} "
            f"| {call} | {_fmt(r.get('total_s'), '.2f')} | {_fmt(r.get('peak_mb'), '.0f')} |"
        )
    lines.append("")
    with tempfile.TemporaryDirectory() as tmp:
        _spawn_here("make", tmp)
        load0 = os.getloadavg()[0]
        floor = _spawn("floor", tmp)
        ana = _spawn("analyze", tmp)
        load1 = os.getloadavg()[0]
    ratio = ana["total_s"] / floor["total_s"]
    lines += [
        f"Speed on real anatomy: `{SPEED_SOURCE}` resampled (linear) to "
        f"{SPEED_SHAPE[0]} x {SPEED_SHAPE[1]} x {SPEED_SHAPE[2]} int16 plus {NOISE_SD_HU:g} HU "
        "noise, one run each in a fresh process.",
        "",
        "| step | wall time (s) | CPU time (s) | peak memory (MB) |",
        "|---|---:|---:|---:|",
        f"| floor: load, threshold >= 130, cc3d 26, per-component stats | {floor['total_s']:.2f} "
        f"| {floor['cpu_s']:.2f} | {floor['peak_mb']:.0f} |",
        f"| analyze + write outputs | {ana['total_s']:.2f} | {ana['cpu_s']:.2f} "
        f"| {ana['peak_mb']:.0f} |",
        "",
        f"Ratio {ratio:.2f} (target <= 3: {'met' if ratio <= 3 else 'NOT met'}; CPU-time ratio "
        f"{ana['cpu_s'] / floor['cpu_s']:.2f}); peak memory "
        f"target <= 2.5 GB: {'met' if ana['peak_mb'] <= 2560 else 'NOT met'}. "
        f"Lesions: {ana.get('lesions')}. Load average (1 min) {load0:.1f} before the floor, "
        f"{load1:.1f} after the analysis, on {os.cpu_count()} cores: wall times grow with it.",
        "",
    ]
    return lines


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "scan":
        _child_scan(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "make":
        _child_make(sys.argv[2])
    else:
        print("\n".join(run()))
