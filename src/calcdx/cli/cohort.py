"""``calcdx cohort`` and ``calcdx compare``: thin command-line layers over the cohort API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

__all__ = ["cohort", "compare"]


def cohort(
    manifest: Annotated[Path, typer.Argument(help="CSV: path, subject, timepoint[, context].")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Cohort output folder.")],
    scheduler: Annotated[
        str | None,
        typer.Option(help="Existing Dask scheduler, e.g. tcp://HOST:8786 (default: local)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Local cluster workers (default: one per CPU core).")
    ] = None,
    pdf: Annotated[bool, typer.Option("--pdf", help="Also write each report.pdf.")] = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Run again studies that failed before.")
    ] = False,
    followup: Annotated[
        bool, typer.Option(help="Compare each subject's consecutive timepoints.")
    ] = True,
    threshold_hu: Annotated[float, typer.Option(help="Mineral threshold in HU.")] = 130.0,
    min_volume_mm3: Annotated[float, typer.Option(help="Smallest lesion reported, mm^3.")] = 1.5,
) -> None:
    """Analyse every study of a cohort on Dask (resumable), with tables and a report."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from calcdx.analysis import AnalysisParameters
    from calcdx.cohort import analyze_cohort

    parameters = AnalysisParameters(threshold_hu=threshold_hu, min_volume_mm3=min_volume_mm3)
    err = Console(stderr=True)
    columns = (TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("studies", total=None)

        def tell(done: int, total: int, record: dict[str, Any] | None) -> None:
            label = "studies" if record is None else f"{record['study_id']}: {record['status']}"
            bar.update(task, completed=done, total=total, description=label[:24])
            if record is not None and record.get("status") == "failed":
                err.print(f"failed: {record['study_id']}: {record['error']}")

        run, files = analyze_cohort(manifest, out, parameters=parameters, scheduler=scheduler,
                                    n_workers=workers, pdf=pdf, retry_failed=retry_failed,
                                    followup=followup, progress=tell)
    console = Console(soft_wrap=False)
    done = sum(r.get("status") == "done" for r in run.records)
    console.print(f"{len(run.records)} studies: {done} done, {len(run.failed)} failed "
                  f"({len(run.ran)} run now, {len(run.skipped)} already done)")
    for record in run.failed:
        console.print(f"  failed {record['study_id']}: {record['error']}")
    pairs = [r for r in run.followups if r.get("status") == "done"]
    if run.followups:
        console.print(f"{len(pairs)} follow-up comparisons"
                      + "".join(f"\n  failed {r['subject']} {r['baseline']} -> {r['followup']}: "
                                f"{r['error']}" for r in run.followups
                                if r.get("status") == "failed"))
    console.print(f"tables: {files['studies'].parent}")
    console.print(f"report: {files['report']}")


def compare(
    baseline: Annotated[Path, typer.Argument(help="Baseline study (DICOM or NIfTI).")],
    followup_study: Annotated[Path, typer.Argument(help="Follow-up study (DICOM or NIfTI).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "calcdx-compare"),
    affine: Annotated[
        bool, typer.Option("--affine", help="Affine instead of rigid registration.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output folder.")
    ] = False,
    threshold_hu: Annotated[float, typer.Option(help="Mineral threshold in HU.")] = 130.0,
) -> None:
    """Register a follow-up onto its baseline and label each lesion's change."""
    from calcdx.analysis import AnalysisParameters
    from calcdx.errors import InputError
    from calcdx.followup import RegistrationConfig, compare_studies, write_comparison

    if out.exists() and not overwrite:
        raise InputError(f"{out}: the output folder exists; choose another or pass --overwrite")
    err = Console(stderr=True)
    with err.status("analysing both scans and registering"):
        comparison = compare_studies(
            baseline, followup_study, parameters=AnalysisParameters(threshold_hu=threshold_hu),
            registration=RegistrationConfig(kind="affine" if affine else "rigid"))
        files = write_comparison(comparison, out, overwrite=overwrite)
    console = Console(soft_wrap=False)
    reg = comparison.registration
    console.print(f"registration ({reg.kind}): rotation {reg.rotation_deg:.1f} deg, "
                  f"translation {', '.join(f'{v:.1f}' for v in reg.translation_mm)} mm")
    console.print(", ".join(f"{n} {s}" for s, n in comparison.counts().items()))
    for change in comparison.changes:
        if change.status != "stable":
            pct = "" if change.volume_change_pct is None else f" {change.volume_change_pct:+.0f} %"
            console.print(f"  {change.status:<13} baseline #{change.baseline_id or '-'} "
                          f"follow-up #{change.followup_id or '-'}{pct}"
                          f"{' (rim maturing)' if change.maturing else ''}")
    console.print(f"json: {files['json']}")
    console.print(f"report: {files['report']}")
