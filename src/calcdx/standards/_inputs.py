"""Inputs shared by the SEG and SR writers: lesion rows and source-image checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import RE_VALID_UID

from calcdx.analysis import AnalysisResult
from calcdx.errors import InputError
from calcdx.volume import LPS_TO_RAS, Volume

__all__ = ["Result", "check_sources", "lesion_label", "lesion_rows", "mass_unit_text",
           "parameter", "require_dicom"]

#: What the writers accept: the analysis result or the ``result.json`` document.
Result = AnalysisResult | Mapping[str, Any]

_NEED_DICOM = (
    "DICOM SEG and SR need a DICOM input (the source CT images they reference); "
    "{why}: analyse the DICOM series instead, or use the FHIR bundle"
)


def lesion_label(lesion_id: int) -> str:
    """Segment label and SR tracking identifier of a lesion: ``"Lesion <id>"``."""
    return f"Lesion {lesion_id}"


def lesion_rows(result: Result) -> list[dict[str, Any]]:
    """The lesions as ``result.json`` dictionaries, in result order."""
    if isinstance(result, AnalysisResult):
        return [r.model_dump() for r in result.lesions]
    lesions = result.get("lesions")
    if not isinstance(lesions, list):
        raise InputError("the result document has no 'lesions' list; give calcdx's result.json")
    return [dict(r) for r in lesions]


def mass_unit_text(result: Result) -> str | None:
    """``totals.mass_unit`` of the result, if present."""
    if isinstance(result, AnalysisResult):
        return result.totals.mass_unit
    totals = result.get("totals") or {}
    unit = totals.get("mass_unit") if isinstance(totals, Mapping) else None
    return None if unit is None else str(unit)


def parameter(result: Result, name: str) -> Any:
    """One analysis parameter (None when the document lacks it)."""
    if isinstance(result, AnalysisResult):
        return getattr(result.parameters, name, None)
    params = result.get("parameters") or {}
    return params.get(name) if isinstance(params, Mapping) else None


def require_dicom(volume: Volume, source_datasets: Sequence[Dataset] | None = None) -> None:
    """Raise :class:`InputError` unless the volume was read from DICOM images.

    Parameters
    ----------
    volume : Volume
        The analysed volume (``metadata["source"]`` tells its file kind).
    source_datasets : sequence of pydicom.Dataset, optional
        When given, it must not be empty.

    Raises
    ------
    InputError
        For a NIfTI (or other non-DICOM) volume, or empty source datasets.
    """
    source = volume.metadata.get("source")
    if source != "dicom":
        kind = source or "a non-DICOM file"
        raise InputError(_NEED_DICOM.format(why=f"this volume was read from {kind}"))
    if source_datasets is not None and not source_datasets:
        raise InputError(_NEED_DICOM.format(why="no source DICOM images were given"))


#: The source UIDs a SEG and SR copy or reference.
_REFERENCED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID",
                    "FrameOfReferenceUID")


def _check_uids(source_datasets: Sequence[Dataset]) -> None:
    """Raise :class:`InputError` when a UID the SEG and SR must reference is not a UID.

    A UID is digits and dots, at most 64 characters (DICOM PS3.5 9.1). Anonymisers that
    hash UIDs into hexadecimal leave images a SEG can only reference invalidly.
    """
    for ds in source_datasets:
        for keyword in _REFERENCED_UIDS:
            value = str(ds.get(keyword, "") or "")
            if value and not (len(value) <= 64 and RE_VALID_UID.match(value)):
                raise InputError(
                    f"the source's {keyword} {value[:40]!r} is not a valid DICOM UID (digits "
                    "and dots, at most 64 characters); a SEG and SR must reference the source "
                    "images by their UIDs: re-export the series with valid UIDs"
                )


def check_sources(volume: Volume, source_datasets: Sequence[Dataset]) -> None:
    """Check that single-frame ``source_datasets[k]`` is slice ``volume.hu[:, :, k]``.

    Compares the count, Rows/Columns, ImageOrientationPatient and
    ImagePositionPatient of every slice with the volume's grid and affine.

    Raises
    ------
    InputError
        If the sources are multi-frame or do not match the volume's grid.
    """
    require_dicom(volume, source_datasets)
    _check_uids(source_datasets)
    n_cols, n_rows, n_slices = volume.shape
    if any(int(ds.get("NumberOfFrames", 1) or 1) > 1 for ds in source_datasets):
        raise InputError(
            "DICOM SEG and SR from multi-frame source images are not supported yet; "
            "export the CT as single-frame images"
        )
    if len(source_datasets) != n_slices:
        raise InputError(
            f"{len(source_datasets)} source images for a volume of {n_slices} slices; give the "
            "headers of the analysed series (calcdx.io.dicom.read_series_headers)"
        )
    lps = LPS_TO_RAS @ volume.affine  # LPS_TO_RAS is its own inverse
    spacing = np.asarray(volume.spacing_mm)
    row_dir, col_dir = lps[:3, 0] / spacing[0], lps[:3, 1] / spacing[1]
    tolerance = 0.5 * float(spacing.min())  # half a voxel: slice jitter passes, misorder not
    for k, ds in enumerate(source_datasets):
        if int(ds.Rows) != n_rows or int(ds.Columns) != n_cols:
            raise InputError(
                f"source image {k} is {ds.Rows} x {ds.Columns}, the volume's slices are "
                f"{n_rows} x {n_cols}; give the headers of the analysed series"
            )
        iop = np.asarray([float(v) for v in ds.ImageOrientationPatient])
        position = np.asarray([float(v) for v in ds.ImagePositionPatient])
        expected = lps[:3, 3] + k * lps[:3, 2]
        if (not np.allclose(iop[:3], row_dir, atol=1e-2)
                or not np.allclose(iop[3:], col_dir, atol=1e-2)
                or float(np.linalg.norm(position - expected)) > tolerance):
            raise InputError(
                f"source image {k} does not lie at slice {k} of the analysed volume; give the "
                "headers in read_series_headers' order"
            )
