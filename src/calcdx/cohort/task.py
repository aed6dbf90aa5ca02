"""One cohort study on a worker: analyse it into a partial folder, then rename into place.

Runs in a Dask worker process; its arguments and result are plain data, so it pickles.
"""

from __future__ import annotations

import os
import resource
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcdx.cohort.store import DONE_MARKER, PARTIAL_PREFIX, write_json_atomic

__all__ = ["analyze_study", "qc_thumbnail"]

#: Longest side of a QC thumbnail, in pixels.
THUMBNAIL_PX = 256


def qc_thumbnail(
    hu: NDArray[Any], labels: NDArray[Any], affine: NDArray[np.float64], path: Path, *,
    max_px: int = THUMBNAIL_PX,
) -> Path:
    """Write a QC picture: the CT's axial maximum intensity projection with lesions in red.

    Shown as a radiologist reads an axial image: patient's right on the left, anterior at
    the top, whatever the grid's orientation.

    Parameters
    ----------
    hu : (I, J, K) ndarray
        CT in HU.
    labels : (I, J, K) ndarray
        Lesion label map (0 = background).
    affine : (4, 4) ndarray
        Voxel index -> patient mm (RAS).
    path : Path
        PNG file to write.
    max_px : int
        Longest side of the picture; the projection is subsampled to fit.

    Returns
    -------
    Path
    """
    from matplotlib import image as mpl_image

    from calcdx.report._orient import canonical

    grid = canonical(affine, hu.shape)
    ras_hu, ras_labels = grid.array(hu), grid.array(labels)  # axes: to Right, Anterior, Superior
    step = max(1, int(np.ceil(max(grid.shape[0], grid.shape[1]) / max_px)))
    mip = ras_hu[::step, ::step, :].max(axis=2).astype(np.float32)
    # rows: anterior at the top; columns: patient's right on the left; window -200..1000 HU
    grey = np.clip((mip + 200.0) / 1200.0, 0.0, 1.0).T[::-1, ::-1]
    projected: NDArray[np.bool_] = np.any(np.asarray(ras_labels[::step, ::step, :]) > 0, axis=2)
    lesion = projected.T[::-1, ::-1]
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[lesion] = (1.0, 0.1, 0.1)
    mpl_image.imsave(path, rgb)
    return path


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 400 else text[:397] + "..."


def analyze_study(
    study: dict[str, Any], studies_dir: str, failed_dir: str, key: str,
    parameters: dict[str, Any], pdf: bool = False,
) -> dict[str, Any]:
    """Analyse one study as ``calcdx analyze`` would, into ``studies_dir/<study_id>``.

    Parameters
    ----------
    study : dict
        A :class:`calcdx.cohort.manifest.CohortStudy` dumped to JSON-ready data.
    studies_dir, failed_dir : str
        Where the study folder and a failure record go.
    key : str
        The study's fingerprint, stored in the done marker.
    parameters : dict
        :class:`calcdx.analysis.AnalysisParameters` fields.
    pdf : bool
        Also write ``report.pdf``.

    Returns
    -------
    dict
        The done marker's content (``status`` ``"done"``), or a failure record
        (``status`` ``"failed"`` with a one-line ``error``); both hold ``seconds`` (wall)
        and ``cpu_seconds`` (CPU time of the thread that ran the study) and the worker's
        peak memory so far. Never raises for a bad study.
    """
    from calcdx.analysis import AnalysisParameters
    from calcdx.study import run_study

    # One study per core: its analysis runs on this thread alone (calcdx._threads), so
    # workers do not oversubscribe the cores and the thread's CPU time is the study's.
    os.environ["CALCDX_THREADS"] = "1"
    study_id = study["study_id"]
    final = Path(studies_dir) / study_id
    partial = Path(studies_dir) / f"{PARTIAL_PREFIX}{study_id}-{uuid.uuid4().hex[:8]}"
    started, cpu_started = time.perf_counter(), time.thread_time()
    base = {"study_id": study_id, "subject": study["subject"], "timepoint": study["timepoint"],
            "order": study["order"], "path": study["path"], "key": key, "pid": os.getpid()}
    try:
        options: dict[str, Any] = {}
        if study.get("anatomy"):
            options["anatomy"] = study["anatomy"]
        outcome = run_study(
            study["path"], partial, context=study["context"], series_uid=study.get("series_uid"),
            parameters=AnalysisParameters(**parameters), pdf=pdf, **options,
        )
        qc_thumbnail(outcome.volume.hu, outcome.result.label_map, outcome.volume.affine,
                     partial / "qc.png")
        totals = outcome.result.totals
        marker = base | {
            "status": "done",
            "seconds": round(time.perf_counter() - started, 3),
            "cpu_seconds": round(time.thread_time() - cpu_started, 3),
            "worker_peak_rss_mb": _peak_rss_mb(),
            "n_lesions": totals.n_lesions,
            "volume_mm3": totals.volume_mm3,
        }
        write_json_atomic(marker, partial / DONE_MARKER)
        if final.exists():  # an earlier run's folder with another key: replaced whole
            shutil.rmtree(final)
        os.replace(partial, final)
        (Path(failed_dir) / f"{study_id}.json").unlink(missing_ok=True)
        return marker
    except Exception as exc:  # one failing study never stops the cohort
        shutil.rmtree(partial, ignore_errors=True)
        record = base | {"status": "failed", "error": f"{type(exc).__name__}: {_one_line(exc)}",
                         "seconds": round(time.perf_counter() - started, 3),
                         "cpu_seconds": round(time.thread_time() - cpu_started, 3),
                         "worker_peak_rss_mb": _peak_rss_mb()}
        write_json_atomic(record, Path(failed_dir) / f"{study_id}.json")
        return record


def _peak_rss_mb() -> float:
    """Peak resident memory of this worker process so far, in MiB (Linux: ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def compare_pair(
    pair: dict[str, Any], out_dir: str, key: str
) -> dict[str, Any]:
    """Compare two consecutive timepoints of one subject (``calcdx compare``) on a worker.

    Parameters
    ----------
    pair : dict
        ``subject``, ``baseline`` and ``followup`` (study ids), ``baseline_path``,
        ``followup_path`` (inputs) and ``baseline_dir``, ``followup_dir`` (study folders).
    out_dir : str
        Folder for ``compare.json`` and ``compare.html`` (replaced whole).
    key : str
        Fingerprint of the pair, stored in ``compare.json``'s ``key``.

    Returns
    -------
    dict
        ``status`` ``"done"`` with the change rows, or ``"failed"`` with a one-line error.
    """
    import json

    from calcdx.followup import compare_analyzed, write_comparison

    base = {"subject": pair["subject"], "baseline": pair["baseline"],
            "followup": pair["followup"], "key": key}
    try:
        comparison = compare_analyzed(pair["baseline_path"], pair["baseline_dir"],
                                      pair["followup_path"], pair["followup_dir"])
        files = write_comparison(comparison, out_dir, overwrite=True)
        document = json.loads(files["json"].read_text(encoding="utf-8"))
        document["key"] = key
        write_json_atomic(document, files["json"])
        return base | {"status": "done", "changes": change_rows(pair, document)}
    except Exception as exc:  # one failing pair never stops the cohort
        return base | {"status": "failed", "error": f"{type(exc).__name__}: {_one_line(exc)}"}


def change_rows(pair: dict[str, Any], document: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of the ``changes`` table from a ``compare.json`` document."""
    return [
        {"subject": pair["subject"], "baseline": pair["baseline"], "followup": pair["followup"],
         "status": c["status"], "baseline_lesion_id": c.get("baseline_id"),
         "followup_lesion_id": c.get("followup_id"),
         "baseline_volume_mm3": c.get("baseline_volume_mm3"),
         "followup_volume_mm3": c.get("followup_volume_mm3"),
         "volume_change_pct": c.get("volume_change_pct"),
         "baseline_mean_hu": c.get("baseline_mean_hu"),
         "followup_mean_hu": c.get("followup_mean_hu"),
         "mean_hu_change": c.get("mean_hu_change"), "rim_hu_change": c.get("rim_hu_change")}
        for c in document.get("changes", [])
    ]
