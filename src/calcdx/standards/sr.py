"""The lesion measurements as a DICOM Comprehensive 3D SR, TID 1500 Measurement Report.

One TID 1411 volumetric measurement group per lesion references the lesion's
segment in the DICOM SEG (:mod:`calcdx.standards.seg`) and holds the lesion's
``result.json`` values (codes in :mod:`calcdx.standards.codes`): volume,
mean and peak HU, Agatston-style score, mass score, the matrix as finding type
each pattern as a *Calcification Type* qualitative evaluation and, when the
``result.json`` document holds a differential, the most likely entity of the
lesion's group as a *Differential Diagnosis/Impression* evaluation coded with
the knowledge base's SNOMED CT concept when it means the entity (``match:
exact``), else a private ``99CALCDX`` code whose value is the entity id (for an
entity with only a broader or partial concept, or none). Values keep
full precision: highdicom writes each as a Decimal String and as a 64-bit
FloatingPointValue. A value that is missing (null) in the result is left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import highdicom as hd
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from calcdx import __version__
from calcdx.errors import InputError
from calcdx.standards._inputs import (
    Result,
    lesion_label,
    lesion_rows,
    mass_unit_text,
    require_dicom,
)
from calcdx.standards.codes import (
    DIAGNOSIS_NAME,
    FINDING_CATEGORY,
    MEASUREMENTS,
    PATTERN_NAME,
    entity_code,
    entity_value,
    mass_unit,
    matrix_code,
    pattern_code,
    pattern_value,
)
from calcdx.volume import Volume

__all__ = ["SR_SERIES_NUMBER", "build_sr", "lesion_diagnoses", "read_sr_lesions", "write_sr"]

#: Series number of the SR series calcdx writes.
SR_SERIES_NUMBER = 9002


def _segments_by_label(segmentation: Dataset) -> dict[str, Dataset]:
    return {str(item.SegmentLabel): item for item in segmentation.get("SegmentSequence", [])}


def _measurements(row: dict[str, Any], mass_text: str | None) -> list[hd.sr.Measurement]:
    out: list[hd.sr.Measurement] = []
    for spec in MEASUREMENTS:
        value = row.get(spec.key)
        if value is None:
            continue
        out.append(hd.sr.Measurement(
            name=spec.name,
            value=float(value),
            unit=spec.unit if spec.unit is not None else mass_unit(mass_text),
            derivation=spec.derivation,
            method=spec.method,
        ))
    return out


def _top_entity(differential: Any) -> str | None:
    if not isinstance(differential, Mapping):
        return None
    ranked = differential.get("differential") or []
    entity = ranked[0].get("entity") if ranked and isinstance(ranked[0], Mapping) else None
    return None if entity is None else str(entity)


def lesion_diagnoses(document: Mapping[str, Any] | None) -> dict[int, str]:
    """Most likely entity per lesion id, from a ``result.json`` document.

    Each lesion gets the top entity of its group's differential (``groups``);
    a document with a single ``differential`` and no groups gives that entity to
    every lesion. Entities the knowledge base does not hold are left out.
    """
    from calcdx.kb import load_knowledge_base

    if not isinstance(document, Mapping):
        return {}
    known = load_knowledge_base().entities
    out: dict[int, str] = {}
    groups = document.get("groups") or []
    for group in groups:
        top = _top_entity(group.get("differential")) if isinstance(group, Mapping) else None
        if top in known:
            for lesion_id in group.get("lesion_ids") or []:
                out[int(lesion_id)] = str(top)
    if not groups:
        top = _top_entity(document.get("differential"))
        if top in known:
            for row in document.get("lesions") or []:
                out[int(row["id"])] = str(top)
    return out


def _group(
    row: dict[str, Any], segmentation: Dataset, segment: Dataset, mass_text: str | None,
    diagnosis: str | None = None,
) -> hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations:
    label = lesion_label(int(row["id"]))
    tracking_uid = str(segment.get("TrackingUID") or hd.UID())
    patterns = [p["pattern"] if isinstance(p, dict) else str(p) for p in row.get("pattern") or []]
    evaluations = [
        hd.sr.QualitativeEvaluation(name=PATTERN_NAME, value=pattern_code(p)) for p in patterns
    ]
    if diagnosis is not None:
        evaluations.append(
            hd.sr.QualitativeEvaluation(name=DIAGNOSIS_NAME, value=entity_code(diagnosis))
        )
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(identifier=label, uid=tracking_uid),
        referenced_segment=hd.sr.ReferencedSegment.from_segmentation(
            segmentation, int(segment.SegmentNumber)
        ),
        finding_type=matrix_code(str(row.get("matrix") or "calcification")),
        finding_category=FINDING_CATEGORY,
        algorithm_id=hd.sr.AlgorithmIdentification(name="calcdx", version=__version__),
        measurements=_measurements(row, mass_text),
        qualitative_evaluations=evaluations or None,
    )


def build_sr(
    result: Result,
    volume: Volume,
    segmentation: Dataset,
    source_datasets: Sequence[Dataset],
    *,
    series_number: int = SR_SERIES_NUMBER,
    document: Mapping[str, Any] | None = None,
) -> hd.sr.Comprehensive3DSR:
    """Build the TID 1500 measurement report of the lesions.

    Parameters
    ----------
    result : AnalysisResult or dict
        The analysis, or its ``result.json`` document.
    volume : Volume
        The analysed volume (must come from DICOM).
    segmentation : pydicom.Dataset
        The SEG written for the same result (:func:`calcdx.standards.seg.build_seg`);
        segments are matched to lesions by their label ``"Lesion <id>"``.
    source_datasets : sequence of pydicom.Dataset
        Headers of the analysed series (the SR's evidence), e.g. from
        :func:`calcdx.io.dicom.read_series_headers`.
    series_number : int
        SeriesNumber of the new SR series.
    document : dict, optional
        The ``result.json`` document whose differentials give each lesion's
        diagnosis (:func:`lesion_diagnoses`); by default ``result`` itself when it
        is a document. Without a differential no diagnosis is written.

    Returns
    -------
    highdicom.sr.Comprehensive3DSR

    Raises
    ------
    InputError
        For a non-DICOM volume, or a segmentation that lacks a lesion's segment.
    """
    require_dicom(volume, source_datasets)
    segments = _segments_by_label(segmentation)
    mass_text = mass_unit_text(result)
    diagnoses = lesion_diagnoses(document if document is not None
                                 else result if isinstance(result, Mapping) else None)
    groups = []
    for row in lesion_rows(result):
        label = lesion_label(int(row["id"]))
        if label not in segments:
            raise InputError(
                f"the segmentation has no segment labelled {label!r}; write the SEG and the SR "
                "from the same result"
            )
        groups.append(_group(row, segmentation, segments[label], mass_text,
                             diagnoses.get(int(row["id"]))))
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="calcdx", manufacturer_name="calcdx",
            model_name=f"calcdx {__version__}",
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=groups or None,
        title=codes.DCM.ImagingMeasurementReport,
    )
    return hd.sr.Comprehensive3DSR(
        evidence=[*source_datasets, segmentation],
        content=report[0],
        series_instance_uid=hd.UID(),
        series_number=series_number,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="calcdx",
        is_complete=True,
        is_final=False,
        is_verified=False,
        series_description="calcdx measurements",
    )


def write_sr(
    result: Result,
    volume: Volume,
    segmentation: Dataset | str | Path,
    source_datasets: Sequence[Dataset],
    path: str | Path,
    *,
    series_number: int = SR_SERIES_NUMBER,
    document: Mapping[str, Any] | None = None,
) -> Path:
    """Write the TID 1500 measurement report (see :func:`build_sr`).

    Parameters
    ----------
    segmentation : pydicom.Dataset or path
        The SEG dataset, or the file :func:`calcdx.standards.seg.write_seg` wrote.

    Returns
    -------
    Path
        The written file.
    """
    seg = segmentation if isinstance(segmentation, Dataset) else pydicom.dcmread(segmentation)
    sr = build_sr(result, volume, seg, source_datasets, series_number=series_number,
                  document=document)
    out = Path(path)
    sr.save_as(out)
    return out


def read_sr_lesions(path: str | Path) -> dict[int, dict[str, Any]]:
    """Read back a measurement report written by :func:`write_sr`.

    Parameters
    ----------
    path : str or Path
        The SR file.

    Returns
    -------
    dict of int to dict
        Per lesion id: the measurement values by ``result.json`` key
        (``volume_mm3``, ``mean_hu``, ``peak_hu``, ``agatston``, ``mass``),
        ``units`` (key to UCUM code), ``pattern`` (list of pattern values),
        ``matrix_code`` (scheme, value), ``diagnosis_code`` (scheme, value) and
        ``diagnosis`` (entity id) when a diagnosis was written,
        ``segment_number`` and ``tracking_uid``.
    """
    report = hd.sr.srread(path).content
    if not isinstance(report, hd.sr.MeasurementReport):
        raise InputError(f"{Path(path).name} is not a TID 1500 measurement report")
    out: dict[int, dict[str, Any]] = {}
    for group in report.get_volumetric_roi_measurement_groups():
        lesion_id = int(str(group.tracking_identifier).rsplit(" ", 1)[-1])
        entry: dict[str, Any] = {"units": {}, "pattern": []}
        for spec in MEASUREMENTS:
            for m in group.get_measurements(name=spec.name):
                if spec.derivation is not None and m.derivation != spec.derivation:
                    continue
                entry[spec.key] = float(m.value)
                entry["units"][spec.key] = str(m.unit.value)
        for evaluation in group.get_qualitative_evaluations(name=PATTERN_NAME):
            # highdicom annotates QualitativeEvaluation.value as a number; it is a code
            code = cast(hd.sr.CodedConcept, evaluation.value)
            entry["pattern"].append(pattern_value(code.scheme_designator, code.value))
        for evaluation in group.get_qualitative_evaluations(name=DIAGNOSIS_NAME):
            code = cast(hd.sr.CodedConcept, evaluation.value)
            entry["diagnosis_code"] = (code.scheme_designator, code.value)
            entry["diagnosis"] = entity_value(code.scheme_designator, code.value)
        if group.finding_type is not None:
            entry["matrix_code"] = (group.finding_type.scheme_designator, group.finding_type.value)
        reference = group.referenced_segment
        numbers = None if reference is None else reference.referenced_segment_numbers
        entry["segment_number"] = int(numbers[0]) if numbers else None
        entry["tracking_uid"] = None if group.tracking_uid is None else str(group.tracking_uid)
        out[lesion_id] = entry
    return out
