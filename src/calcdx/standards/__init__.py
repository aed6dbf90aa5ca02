"""Standard objects for PACS and EHR: DICOM SEG, DICOM SR (TID 1500) and FHIR R4.

* :func:`write_seg`: the lesions as a binary DICOM Segmentation, one segment
  per lesion (``"Lesion <id>"``), referencing the analysed CT images.
* :func:`write_sr`: a Comprehensive 3D SR measurement report, one measurement
  group per lesion referencing its segment (volume, mean and peak HU,
  Agatston-style and mass scores, pattern).
* :func:`fhir_bundle` / :func:`write_fhir`: a FHIR R4 collection Bundle with a
  DiagnosticReport and one Observation per lesion, without patient identifiers.
* :func:`write_standard_objects`: all three from a DICOM input.

SEG and SR need the input CT to be DICOM (they reference its images); the FHIR
bundle needs only ``result.json``. Codes are listed in :mod:`calcdx.standards.codes`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from calcdx.analysis import AnalysisResult
from calcdx.errors import CalcdxError
from calcdx.standards._complete import complete_source_headers
from calcdx.standards._inputs import require_dicom
from calcdx.standards.fhir import fhir_bundle, write_fhir
from calcdx.standards.seg import build_seg, write_seg
from calcdx.standards.sr import build_sr, read_sr_lesions, write_sr
from calcdx.volume import Volume

__all__ = [
    "build_seg",
    "build_sr",
    "complete_source_headers",
    "fhir_bundle",
    "read_sr_lesions",
    "write_fhir",
    "write_seg",
    "write_sr",
    "write_standard_objects",
]


def write_standard_objects(
    result: AnalysisResult,
    volume: Volume,
    dicom_path: str | Path,
    out_dir: str | Path,
    *,
    document: Mapping[str, Any],
    series_uid: str | None = None,
    notes: list[str] | None = None,
) -> dict[str, Path]:
    """Write ``lesions.seg.dcm``, ``measurements.sr.dcm`` and ``fhir.json`` into ``out_dir``.

    Anonymised source headers are completed first (:func:`complete_source_headers`); when a
    valid SEG or SR still cannot be made, they are skipped and a one-line reason is appended
    to ``notes``: the FHIR bundle is always written, and nothing raises for a real series.

    Parameters
    ----------
    result : AnalysisResult
        The analysis (its label map becomes the SEG).
    volume : Volume
        The analysed volume, read from ``dicom_path``.
    dicom_path : str or Path
        The DICOM input the volume was read from.
    out_dir : str or Path
        Output folder (created when missing).
    document : dict
        The ``result.json`` content, for the FHIR bundle and the SR diagnoses.
    series_uid : str, optional
        The series analysed, when ``dicom_path`` holds several.
    notes : list of str, optional
        Receives one line per header completed and per object skipped.

    Returns
    -------
    dict of str to Path
        ``"seg"``, ``"sr"`` (when written) and ``"fhir"``.

    Raises
    ------
    InputError
        If the volume was not read from DICOM.
    """
    require_dicom(volume)  # the source kind first, before reading any file
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    said = notes if notes is not None else []
    written: dict[str, Path] = {}
    if result.lesions:
        written |= _seg_and_sr(result, volume, dicom_path, out, series_uid, said, document)
    written["fhir"] = write_fhir(document, out / "fhir.json")
    return written


def _seg_and_sr(
    result: AnalysisResult, volume: Volume, dicom_path: str | Path, out: Path,
    series_uid: str | None, notes: list[str], document: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = _build_and_save(result, volume, dicom_path, out, series_uid, notes, document)
    for line in dict.fromkeys(_first_sentence(w.message) for w in caught):
        if not any(line.rstrip(".") in note for note in notes):  # the reader said it already
            notes.append(f"DICOM SEG/SR: {line}")
    return written


def _first_sentence(message: Warning | str) -> str:
    """A library warning as one short line (highdicom's run over several sentences)."""
    text = " ".join(str(message).split())
    end = text.find(". ")
    return (text[: end + 1] if end > 0 else text)[:200]


def _build_and_save(
    result: AnalysisResult, volume: Volume, dicom_path: str | Path, out: Path,
    series_uid: str | None, notes: list[str], document: Mapping[str, Any] | None,
) -> dict[str, Path]:
    from calcdx.io.dicom import read_series_headers

    written: dict[str, Path] = {}
    try:
        headers, completed = complete_source_headers(
            read_series_headers(dicom_path, series_uid=series_uid),
            slice_step_mm=float(volume.spacing_mm[2]))
        notes.extend(completed)
        seg = build_seg(result, volume, headers)
    except Exception as exc:  # a real series must never lose the rest of the outputs
        notes.append(f"DICOM SEG and SR not written: {_reason(exc)}")
        return written
    written["seg"] = out / "lesions.seg.dcm"
    seg.save_as(written["seg"])
    try:
        sr = build_sr(result, volume, seg, headers, document=document)
    except Exception as exc:
        notes.append(f"DICOM SR not written: {_reason(exc)}")
        return written
    written["sr"] = out / "measurements.sr.dcm"
    sr.save_as(written["sr"])
    return written


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, CalcdxError) else f"{type(exc).__name__}: {text}"[:300]
