"""A CT study from file to findings, differential and outputs (``calcdx analyze``).

This is the I/O edge that chains the pure steps::

    read_volume -> analyze_volume -> derive_groups -> Engine.diagnose_many -> files

and writes ``result.json``, ``lesions.nii.gz``, ``report.html`` (and, when asked,
``report.pdf``), the FHIR bundle and, for DICOM
input, a DICOM SEG of the lesions and a TID 1500 SR of their measurements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calcdx.analysis import AnalysisParameters, AnalysisResult, Progress, analyze_volume
from calcdx.case.model import parse_case
from calcdx.case.vocabulary import CASE_FORMAT
from calcdx.findings.derive import LesionGroup, derive_groups
from calcdx.io import read_volume
from calcdx.output.writers import result_document, write_document, write_label_map
from calcdx.reasoning import Differential, default_engine
from calcdx.report import write_report
from calcdx.standards import write_fhir, write_standard_objects
from calcdx.volume import Volume

__all__ = ["StudyOutcome", "diagnose_groups", "run_study", "study_document"]


@dataclass(frozen=True)
class StudyOutcome:
    """What :func:`run_study` produced.

    Attributes
    ----------
    volume : Volume
    result : AnalysisResult
    groups : list of LesionGroup
    differentials : list of Differential
        One per group, same order.
    document : dict
        The ``result.json`` content.
    files : dict of str to Path
        Written files by kind (``result``, ``labels``, ``report``...).
    """

    volume: Volume
    result: AnalysisResult
    groups: list[LesionGroup]
    differentials: list[Differential]
    document: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)


def diagnose_groups(
    groups: list[LesionGroup], context: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[Differential]]:
    """Build each group's case (imaging + clinical context) and rank its differential.

    Parameters
    ----------
    groups : list of LesionGroup
    context : dict
        Validated ``patient``, ``clinical``, ``clinical_absent``, ``labs``.

    Returns
    -------
    cases : list of dict
        Case-format cases, one per group.
    differentials : list of Differential
    """
    cases = [
        {"format": CASE_FORMAT, "id": group.id, **context, "imaging": group.imaging}
        for group in groups
    ]
    differentials = default_engine().diagnose_many([parse_case(case) for case in cases])
    return cases, differentials


def _warnings(volume: Volume, result: AnalysisResult) -> list[str]:
    found = [str(w) for w in volume.metadata.get("warnings", [])]
    if result.contrast.enhanced:
        found.append(
            "Contrast-enhanced study: enhancing lumens and organs were excluded; calcification "
            "next to enhancing structures may be under-reported."
        )
    found += result.masks.notes
    if result.foreign_material:
        found.append(
            f"{len(result.foreign_material)} metal or other foreign object(s) excluded with their "
            "streak artefacts; mineral inside the streak region is not reported."
        )
    return found


def study_document(
    volume: Volume,
    result: AnalysisResult,
    groups: list[LesionGroup],
    cases: list[dict[str, Any]],
    differentials: list[Differential],
) -> dict[str, Any]:
    """The ``result.json`` document: measurements plus derived cases and differentials."""
    doc = result_document(result, volume)
    doc["groups"] = [
        {
            "id": group.id,
            "lesion_ids": group.lesion_ids,
            "cluster_id": group.cluster_id,
            "volume_mm3": group.volume_mm3,
            "derivation": {k: v.model_dump() for k, v in group.derivation.items()},
            "case": case,
            "differential": differential.to_dict(),
        }
        for group, case, differential in zip(groups, cases, differentials, strict=True)
    ]
    doc["case"] = cases[0] if cases else {}
    doc["differential"] = differentials[0].to_dict() if differentials else {}
    doc["warnings"] = _warnings(volume, result)
    return doc


def run_study(
    input_path: str | Path,
    out_dir: str | Path,
    *,
    context: dict[str, Any] | None = None,
    series_uid: str | None = None,
    parameters: AnalysisParameters | None = None,
    progress: Progress | None = None,
    pdf: bool = False,
) -> StudyOutcome:
    """Analyse a CT study and write ``result.json`` and ``lesions.nii.gz``.

    Parameters
    ----------
    input_path : str or Path
        DICOM folder or file, or NIfTI.
    out_dir : str or Path
        Output folder (created).
    context : dict, optional
        Validated clinical context (see :func:`calcdx.case.context.build_context`).
    series_uid : str, optional
        Series to analyse in a multi-series folder.
    parameters : AnalysisParameters, optional
        Thresholds and sizes.
    progress : callable, optional
        ``progress(step, fraction)``.
    pdf : bool
        Also write ``report.pdf`` (WeasyPrint).

    Returns
    -------
    StudyOutcome
    """

    def tell(step: str, fraction: float) -> None:
        if progress is not None:
            progress(step, fraction)

    tell("reading", 0.0)
    volume = read_volume(input_path, series_uid=series_uid)
    result = analyze_volume(volume, parameters, progress=progress)
    tell("differential", 0.95)
    groups = derive_groups(result)
    cases, differentials = diagnose_groups(groups, context or {})
    document = study_document(volume, result, groups, cases, differentials)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"result": out / "result.json", "labels": out / "lesions.nii.gz"}
    write_document(document, files["result"])
    write_label_map(result, volume, files["labels"])
    tell("report", 0.96)
    files |= write_report(document, volume, result, out, pdf=pdf)
    tell("standard objects", 0.98)
    # A resampled series (gantry tilt, uneven spacing) no longer lies on its source
    # images, so SEG and SR, which reference them frame by frame, are not written.
    if volume.metadata.get("source") == "dicom" and not volume.metadata.get("resampled"):
        files |= write_standard_objects(
            result, volume, input_path, out, document=document, series_uid=series_uid
        )
    else:
        files["fhir"] = write_fhir(document, out / "fhir.json")
    tell("done", 1.0)
    return StudyOutcome(volume, result, groups, differentials, document, files)
