"""CT analysis benchmark: ``analyze`` against a reference floor on a 400 x 512 x 512 CT.

Each measurement runs in its own subprocess so that peak memory is the child's
``ru_maxrss`` (tracemalloc misses numpy buffers). The CT is the calcdx phantom
built at 512 x 512 x 400 (0.8 x 0.8 x 1.0 mm), int16, saved once as ``.npy``.

* floor: load the array, threshold >= 130 HU, cc3d 26-connected labelling,
  per-component voxel count, bounding boxes (``cc3d.statistics``) and HU sum /
  max over the candidate voxels.
* analyze: load the array, :func:`calcdx.analysis.analyze_volume`, write
  ``result.json`` and ``lesions.nii.gz``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPE = (512, 512, 400)
SPACING = (0.8, 0.8, 1.0)
REPEATS = 2


def _child(mode: str, workdir: str) -> None:
    import resource

    import numpy as np

    work = Path(workdir)
    if mode == "make":
        from calcdx.phantom import make_phantom

        ph = make_phantom(shape=SHAPE, spacing_mm=SPACING)
        np.save(work / "hu.npy", np.asarray(ph.volume.hu, dtype=np.int16))
        np.save(work / "affine.npy", ph.volume.affine)
        print(json.dumps({"n_planted": len(ph.truth)}))
        return
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage0.ru_utime + usage0.ru_stime  # the interpreter's start and imports excluded
    t0 = time.perf_counter()
    hu = np.load(work / "hu.npy")
    affine = np.load(work / "affine.npy")
    t_load = time.perf_counter() - t0
    extra: dict[str, object] = {}
    if mode == "floor":
        import cc3d

        labels, n = cc3d.connected_components(hu >= 130, connectivity=26, return_N=True)
        stats = cc3d.statistics(labels)
        flat = np.flatnonzero(labels)
        lab = labels.ravel()[flat]
        values = hu.ravel()[flat]
        hu_sum = np.bincount(lab, weights=values, minlength=n + 1)
        order = np.argsort(lab, kind="stable")
        starts = np.searchsorted(lab[order], np.arange(1, n + 1))
        hu_max = np.maximum.reduceat(values[order], starts) if n else values[:0]
        extra = {"components": int(n), "voxels": int(stats["voxel_counts"][1:].sum()),
                 "hu_sum": float(hu_sum.sum()), "hu_max": float(hu_max.max(initial=0))}
    else:
        from calcdx.analysis import analyze_volume
        from calcdx.output import write_outputs
        from calcdx.volume import Volume

        volume = Volume(hu, affine)
        result = analyze_volume(volume)
        write_outputs(result, volume, work / "out")
        extra = {"lesions": result.totals.n_lesions,
                 "skeleton_components": result.masks.skeleton_components}
    total = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_mb = usage.ru_maxrss / 1024.0
    cpu_s = usage.ru_utime + usage.ru_stime - cpu0
    print(json.dumps({"total_s": total, "load_s": t_load, "cpu_s": cpu_s, "peak_mb": peak_mb,
                      **extra}))


def _spawn(mode: str, workdir: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_analyze", mode, workdir],
        check=True, capture_output=True, text=True, cwd=Path(__file__).parents[1],
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run() -> list[str]:
    """Measure and return markdown lines."""
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        _spawn("make", tmp)
        floors, analyses = [], []
        for _ in range(REPEATS):
            floors.append(_spawn("floor", tmp))
            analyses.append(_spawn("analyze", tmp))
    floor = min(floors, key=lambda r: r["total_s"])
    ana = min(analyses, key=lambda r: r["total_s"])
    ratio = ana["total_s"] / floor["total_s"]
    ratio_nl = (ana["total_s"] - ana["load_s"]) / (floor["total_s"] - floor["load_s"])
    ok_time = "met" if ratio <= 3.0 else "NOT met"
    ok_mem = "met" if ana["peak_mb"] <= 2560 else "NOT met"
    return [
        "## CT analysis (`analyze`)",
        "",
        f"Phantom CT {SHAPE[0]} x {SHAPE[1]} x {SHAPE[2]} int16 "
        f"({SPACING[0]} x {SPACING[1]} x {SPACING[2]} mm), best of {REPEATS}, "
        "each run in a fresh process (peak memory = ru_maxrss).",
        "",
        "| step | wall time (s) | of which load (s) | peak memory (MB) |",
        "|---|---|---|---|",
        f"| floor: load, threshold >= 130, cc3d 26, counts + HU stats | {floor['total_s']:.2f} "
        f"| {floor['load_s']:.2f} | {floor['peak_mb']:.0f} |",
        f"| analyze + write result.json and lesions.nii.gz | {ana['total_s']:.2f} "
        f"| {ana['load_s']:.2f} | {ana['peak_mb']:.0f} |",
        "",
        f"Ratio analyze / floor: {ratio:.2f} (target <= 3: {ok_time}); excluding the load: "
        f"{ratio_nl:.2f}. Peak memory target <= 2.5 GB: {ok_mem}. "
        f"Lesions found: {ana.get('lesions')}; floor components: {floor.get('components')}. "
        f"CPU time: floor {floor['cpu_s']:.2f} s, analyze {ana['cpu_s']:.2f} s. Load average "
        f"(1 min) {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, on "
        f"{os.cpu_count()} cores.",
        "",
    ]


if __name__ == "__main__":
    if len(sys.argv) == 3:
        _child(sys.argv[1], sys.argv[2])
    else:
        print("\n".join(run()))
