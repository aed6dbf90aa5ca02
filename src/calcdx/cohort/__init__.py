"""Cohorts: many studies through the ``analyze`` pipeline on Dask, with tables and a report.

:func:`analyze_cohort` is the whole job behind ``calcdx cohort``: read the manifest, run every
study not yet done (:func:`~calcdx.cohort.run.run_cohort`), compare each subject's consecutive
timepoints, rebuild the Parquet tables and write the cohort report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from calcdx.analysis import AnalysisParameters
from calcdx.cohort.manifest import CohortStudy, read_manifest
from calcdx.cohort.report import write_cohort_report
from calcdx.cohort.run import CohortProgress, CohortRun, run_cohort
from calcdx.cohort.tables import SCHEMAS, connect, write_tables

__all__ = [
    "SCHEMAS",
    "CohortRun",
    "CohortStudy",
    "analyze_cohort",
    "connect",
    "read_manifest",
    "run_cohort",
    "write_cohort_report",
    "write_tables",
]


def analyze_cohort(
    manifest: str | Path,
    out_dir: str | Path,
    *,
    parameters: AnalysisParameters | None = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    pdf: bool = False,
    retry_failed: bool = False,
    followup: bool = True,
    progress: CohortProgress | None = None,
) -> tuple[CohortRun, dict[str, Path]]:
    """Run a whole cohort and write its tables and report.

    Parameters are those of :func:`~calcdx.cohort.run.run_cohort`; ``manifest`` is the CSV.

    Returns
    -------
    run : CohortRun
    files : dict of str to Path
        The tables (``studies``, ``lesions``, ``groups``, ``changes``) and ``report``.
    """
    studies = read_manifest(manifest)
    run = run_cohort(studies, out_dir, parameters=parameters, scheduler=scheduler,
                     n_workers=n_workers, pdf=pdf, retry_failed=retry_failed,
                     followup=followup, progress=progress)
    changes: list[dict[str, Any]] = [
        row for record in run.followups for row in record.get("changes", [])
    ]
    files = write_tables(studies, out_dir, changes)
    files["report"] = write_cohort_report(out_dir)
    return run, files
