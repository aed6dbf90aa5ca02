"""The lesions as a DICOM Segmentation (binary, one segment per lesion) with highdicom.

Segment ``n`` is the ``n``-th lesion of the result, labelled ``"Lesion <id>"``;
its tracking identifier is the same label with a new tracking UID, which the
SR (:mod:`calcdx.standards.sr`) reuses. Frame ``k`` of the pixel array is
source slice ``k`` (``volume.hu[:, :, k]``) transposed to rows x columns, since
calcdx's grid axis 0 is the image column and axis 1 the image row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from calcdx import __version__
from calcdx.analysis import AnalysisResult
from calcdx.errors import InputError
from calcdx.standards._inputs import (
    Result,
    check_sources,
    lesion_label,
    lesion_rows,
    parameter,
)
from calcdx.standards.codes import ALGORITHM_FAMILY, FINDING_CATEGORY, matrix_code
from calcdx.volume import Volume

__all__ = ["SEG_SERIES_NUMBER", "build_seg", "segment_frames", "write_seg"]

#: Series number of the SEG series calcdx writes.
SEG_SERIES_NUMBER = 9001


def segment_frames(
    label_map: NDArray[Any], lesion_ids: Sequence[int]
) -> NDArray[np.unsignedinteger[Any]]:
    """Label-map-style SEG pixel array: segment numbers on ``(slices, rows, columns)``.

    Parameters
    ----------
    label_map : (I, J, K) ndarray of unsigned int
        Lesion id per voxel (axis 0 column, axis 1 row, axis 2 slice), 0 elsewhere.
    lesion_ids : sequence of int
        Lesion ids in segment order: ``lesion_ids[n - 1]`` becomes segment ``n``.

    Returns
    -------
    (K, J, I) ndarray of uint8 or uint16
        ``out[k, row, col]`` is the segment number of voxel ``(col, row, k)``.

    Raises
    ------
    InputError
        If the label map holds an id that is not among ``lesion_ids``.
    """
    labels = np.asarray(label_map)
    top = int(labels.max()) if labels.size else 0
    lut = np.zeros(max(top, max(lesion_ids, default=0)) + 1, dtype=np.uint16)
    for number, lesion_id in enumerate(lesion_ids, start=1):
        lut[int(lesion_id)] = number
    present = np.unique(labels)
    unknown = [int(v) for v in present if v != 0 and lut[int(v)] == 0]
    if unknown:
        raise InputError(
            f"the label map holds lesion ids {unknown[:5]} that the result does not list; "
            "give the label map and result of the same analysis"
        )
    dtype = np.uint8 if len(lesion_ids) < 256 else np.uint16
    return np.ascontiguousarray(lut[labels].astype(dtype).transpose(2, 1, 0))


def build_seg(
    result: Result,
    volume: Volume,
    source_datasets: Sequence[Dataset],
    *,
    label_map: NDArray[Any] | None = None,
    series_number: int = SEG_SERIES_NUMBER,
) -> hd.seg.Segmentation:
    """Build the DICOM SEG of the lesions.

    Parameters
    ----------
    result : AnalysisResult or dict
        The analysis, or its ``result.json`` document (then give ``label_map``).
    volume : Volume
        The analysed volume (read from DICOM).
    source_datasets : sequence of pydicom.Dataset
        Headers of the analysed single-frame series in slice order, as
        :func:`calcdx.io.dicom.read_series_headers` returns them; pixel data
        is not needed.
    label_map : (I, J, K) ndarray, optional
        Lesion id per voxel; defaults to ``result.label_map``.
    series_number : int
        SeriesNumber of the new SEG series.

    Returns
    -------
    highdicom.seg.Segmentation
        BINARY segmentation, one segment per lesion, empty frames omitted.

    Raises
    ------
    InputError
        For a non-DICOM volume, sources that do not match the volume, no
        lesions, or a missing or mismatched label map.
    """
    check_sources(volume, source_datasets)
    if label_map is None:
        if not isinstance(result, AnalysisResult):
            raise InputError("a DICOM SEG from result.json needs the label map (label_map=...)")
        label_map = result.label_map
    if tuple(label_map.shape) != volume.shape:
        raise InputError(
            f"label map shape {tuple(label_map.shape)} differs from the volume's {volume.shape}"
        )
    lesions = lesion_rows(result)
    if not lesions:
        raise InputError("no lesion was found, so there is no segmentation to write")
    ids = [int(r["id"]) for r in lesions]
    pixels = segment_frames(label_map, ids)
    settings = {
        key: str(value)
        for key in ("threshold_hu", "min_volume_mm3")
        if (value := parameter(result, key)) is not None
    }
    algorithm = hd.AlgorithmIdentificationSequence(
        name="calcdx", family=ALGORITHM_FAMILY, version=__version__, source="calcdx",
        parameters=settings or None,
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=lesion_label(int(row["id"])),
            segmented_property_category=FINDING_CATEGORY,
            segmented_property_type=matrix_code(str(row.get("matrix") or "calcification")),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            tracking_id=lesion_label(int(row["id"])),
            tracking_uid=hd.UID(),
        )
        for number, row in enumerate(lesions, start=1)
    ]
    seg = hd.seg.Segmentation(
        source_images=list(source_datasets),
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=series_number,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="calcdx",
        manufacturer_model_name="calcdx",
        software_versions=__version__,
        device_serial_number="none",
        content_label="CALCDX_LESIONS",
        content_description="soft-tissue calcification lesions (calcdx, not for clinical use)",
        series_description="calcdx lesions",
    )
    return seg


def write_seg(
    result: Result,
    volume: Volume,
    source_datasets: Sequence[Dataset],
    path: str | Path,
    *,
    label_map: NDArray[Any] | None = None,
    series_number: int = SEG_SERIES_NUMBER,
) -> Path:
    """Write the DICOM SEG of the lesions (see :func:`build_seg`).

    Returns
    -------
    Path
        The written file.
    """
    seg = build_seg(result, volume, source_datasets, label_map=label_map,
                    series_number=series_number)
    out = Path(path)
    seg.save_as(out)
    return out
