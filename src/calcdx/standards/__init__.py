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

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from calcdx.analysis import AnalysisResult
from calcdx.standards._inputs import require_dicom
from calcdx.standards.fhir import fhir_bundle, write_fhir
from calcdx.standards.seg import build_seg, write_seg
from calcdx.standards.sr import build_sr, read_sr_lesions, write_sr
from calcdx.volume import Volume

__all__ = [
    "build_seg",
    "build_sr",
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
) -> dict[str, Path]:
    """Write ``lesions.seg.dcm``, ``measurements.sr.dcm`` and ``fhir.json`` into ``out_dir``.

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
        The ``result.json`` content, for the FHIR bundle.
    series_uid : str, optional
        The series analysed, when ``dicom_path`` holds several.

    Returns
    -------
    dict of str to Path
        ``"seg"``, ``"sr"`` and ``"fhir"``; without lesions only ``"fhir"``.

    Raises
    ------
    InputError
        If the volume was not read from DICOM, or the series does not match it.
    """
    from calcdx.io.dicom import read_series_headers

    require_dicom(volume)  # the source kind first, before reading any file
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if result.lesions:
        headers = read_series_headers(dicom_path, series_uid=series_uid)
        seg = build_seg(result, volume, headers)
        written["seg"] = out / "lesions.seg.dcm"
        seg.save_as(written["seg"])
        written["sr"] = out / "measurements.sr.dcm"
        build_sr(result, volume, seg, headers).save_as(written["sr"])
    written["fhir"] = write_fhir(document, out / "fhir.json")
    return written
