"""A CT study from file to findings, differential and outputs (``calcdx analyze``).

This is the I/O edge that chains the pure steps::

    read_volume -> analyze_volume -> derive_groups -> Engine.diagnose_many -> files

and writes ``result.json``, ``lesions.nii.gz``, ``report.html`` (and, when asked,
``report.pdf``), the FHIR bundle and, for DICOM
input, a DICOM SEG of the lesions and a TID 1500 SR of their measurements.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calcdx.analysis import AnalysisParameters, AnalysisResult, Progress, analyze_volume
from calcdx.anatomy import load_anatomy
from calcdx.case.model import parse_case
from calcdx.case.patient import PatientContext, merge_patient, one_sex_note
from calcdx.case.vocabulary import CASE_FORMAT
from calcdx.errors import InputError
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
    *,
    patient: PatientContext | None = None,
) -> dict[str, Any]:
    """The ``result.json`` document: measurements plus derived cases and differentials.

    With `patient` (the age and sex used, with their sources) the document gets
    ``patient_context``, and where the sex is not known every ranked entity of one
    sex only carries a ``sex_note``.
    """
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
    if patient is not None:
        doc["patient_context"] = patient.model_dump()
        _mark_one_sex(doc, patient.sex)
    return doc


def _mark_one_sex(doc: dict[str, Any], sex: str | None) -> None:
    """Add ``sex_note`` to ranked entities of one sex only when the sex is not known."""
    if sex is not None:
        return
    model = default_engine().model
    female = dict(zip(model.entity_ids, (float(f) for f in model.female), strict=True))
    differentials = [g["differential"] for g in doc["groups"]] + [doc["differential"]]
    for differential in differentials:
        for key in ("differential", "ranking"):
            for item in differential.get(key, []) or []:
                note = one_sex_note(female.get(str(item.get("entity")), 0.5), sex)
                if note:
                    item["sex_note"] = note


def _prepare_output(out_dir: str | Path, overwrite: bool) -> tuple[Path, Path]:
    """Check the output folder before any work; make the partial folder beside it.

    Returns
    -------
    out, partial : Path
        The final folder and a hidden sibling the outputs are written into.

    Raises
    ------
    InputError
        If ``out_dir`` exists (and is not empty) without ``overwrite``, is a file, or its
        parent folder cannot be written.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: the output path is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise InputError(
            f"{out}: the output folder exists and is not empty; choose another folder or pass "
            "--overwrite to replace it (its old files are removed, never mixed with new ones)"
        )
    parent = out.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
    except OSError as exc:
        raise InputError(
            f"{out}: cannot write the output folder here ({exc.strerror or exc}); choose a "
            "folder you can write to"
        ) from None
    return out, partial


def _publish(partial: Path, out: Path) -> None:
    """Move the complete partial folder into place, replacing an old ``out`` whole."""
    old: Path | None = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(out, old)
    os.replace(partial, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def run_study(
    input_path: str | Path,
    out_dir: str | Path,
    *,
    context: dict[str, Any] | None = None,
    series_uid: str | None = None,
    parameters: AnalysisParameters | None = None,
    progress: Progress | None = None,
    pdf: bool = False,
    overwrite: bool = False,
    anatomy: str | Path | None = None,
) -> StudyOutcome:
    """Analyse a CT study and write its outputs into ``out_dir``, all at once.

    The outputs are written into a hidden folder beside ``out_dir`` and renamed into place
    when complete: an interrupted or failed run leaves no folder that looks complete, and an
    existing folder is replaced whole (with ``overwrite``) or refused before any work.

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
    overwrite : bool
        Replace an existing, non-empty ``out_dir``.
    anatomy : str or Path, optional
        TotalSegmentator's output for this series (multi-label NIfTI, folder of
        ``<class>.nii.gz`` masks, or DICOM SEG; :func:`calcdx.anatomy.load_anatomy`).

    Returns
    -------
    StudyOutcome
        ``files`` name the final paths.

    Raises
    ------
    InputError
        If the output folder exists without ``overwrite`` or cannot be written (checked
        before the analysis), or the input cannot be read.
    """
    out, partial = _prepare_output(out_dir, overwrite)
    try:
        outcome = _run_into(input_path, partial, context=context, series_uid=series_uid,
                            parameters=parameters, progress=progress, pdf=pdf,
                            anatomy=anatomy)
        _publish(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    files = {kind: out / path.relative_to(partial) for kind, path in outcome.files.items()}
    return StudyOutcome(outcome.volume, outcome.result, outcome.groups, outcome.differentials,
                        outcome.document, files)


def _run_into(
    input_path: str | Path,
    out: Path,
    *,
    context: dict[str, Any] | None,
    series_uid: str | None,
    parameters: AnalysisParameters | None,
    progress: Progress | None,
    pdf: bool,
    anatomy: str | Path | None = None,
) -> StudyOutcome:
    def tell(step: str, fraction: float) -> None:
        if progress is not None:
            progress(step, fraction)

    tell("reading", 0.0)
    volume = read_volume(input_path, series_uid=series_uid)
    labels = None
    if anatomy is not None:
        tell("anatomy", 0.02)
        labels = load_anatomy(anatomy, volume.affine, volume.shape)
    result = analyze_volume(volume, parameters, progress=progress, anatomy=labels)
    tell("differential", 0.95)
    groups = derive_groups(result)
    merged, used = merge_patient(context or {}, volume.metadata)
    cases, differentials = diagnose_groups(groups, merged)
    document = study_document(volume, result, groups, cases, differentials, patient=used)
    files: dict[str, Path] = {}
    tell("standard objects", 0.96)
    # A resampled series (gantry tilt, uneven spacing) no longer lies on its source
    # images, so SEG and SR, which reference them frame by frame, are not written.
    notes: list[str] = []
    if volume.metadata.get("source") == "dicom" and not volume.metadata.get("resampled"):
        files |= write_standard_objects(
            result, volume, input_path, out, document=document, series_uid=series_uid,
            notes=notes,
        )
    else:
        files["fhir"] = write_fhir(document, out / "fhir.json")
    document["warnings"] = [*document["warnings"], *notes]
    files["result"] = write_document(document, out / "result.json")
    files["labels"] = write_label_map(result, volume, out / "lesions.nii.gz")
    tell("report", 0.98)
    files |= write_report(document, volume, result, out, pdf=pdf)
    tell("done", 1.0)
    return StudyOutcome(volume, result, groups, differentials, document, files)
