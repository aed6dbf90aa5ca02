"""``result.json`` and ``lesions.nii.gz`` on the input's own grid and affine."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from calcdx import __version__
from calcdx._threads import submit
from calcdx.analysis import AnalysisResult
from calcdx.volume import Volume

__all__ = [
    "RESULT_FORMAT",
    "result_document",
    "write_document",
    "write_label_map",
    "write_outputs",
    "write_result_json",
]

RESULT_FORMAT = "calcdx-analysis/1"

_META_KEYS = (
    "source", "series_uid", "study_uid", "frame_of_reference_uid", "series_description",
    "series_choice", "modality", "manufacturer", "manufacturer_model", "kvp",
    "convolution_kernel", "slice_thickness_mm", "slice_step_mm", "contrast_agent",
    "contrast_route", "body_part_examined", "transfer_syntaxes", "warnings",
)


def _clean(value: Any) -> Any:
    """Make a value JSON-safe (no NaN/inf, numpy scalars to Python)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def result_document(result: AnalysisResult, volume: Volume) -> dict[str, Any]:
    """Build the ``result.json`` document.

    Parameters
    ----------
    result : AnalysisResult
    volume : Volume
        The analysed volume (for the input geometry).

    Returns
    -------
    dict
        JSON-ready; ``case`` and ``differential`` are empty placeholders.
    """
    codes = "".join(nib.orientations.aff2axcodes(volume.affine))  # type: ignore[no-untyped-call]
    meta = {k: volume.metadata[k] for k in _META_KEYS if k in volume.metadata}
    doc = {
        "format": RESULT_FORMAT,
        "calcdx_version": __version__,
        "input": {
            "shape": list(volume.shape),
            "spacing_mm": list(volume.spacing_mm),
            "voxel_volume_mm3": volume.voxel_volume_mm3,
            "affine_ras_mm": volume.affine.tolist(),
            "orientation": codes,
            "metadata": meta,
        },
        "parameters": result.parameters.model_dump(),
        "rules": result.rules,
        "masks": result.masks.model_dump(),
        "contrast": result.contrast.model_dump(),
        "foreign_material": [m.model_dump() for m in result.foreign_material],
        "lesions": [r.model_dump() for r in result.lesions],
        "clusters": [c.model_dump() for c in result.clusters],
        "totals": result.totals.model_dump(),
        "label_map": {"file": "lesions.nii.gz", "value": "lesion id, 0 elsewhere"},
        "case": {},
        "differential": {},
    }
    return dict(_clean(doc))


def write_result_json(result: AnalysisResult, volume: Volume, path: str | Path) -> Path:
    """Write ``result.json``.

    Parameters
    ----------
    result : AnalysisResult
    volume : Volume
    path : str or Path
        Output file.

    Returns
    -------
    Path
    """
    return write_document(result_document(result, volume), path)


def write_document(document: dict[str, Any], path: str | Path) -> Path:
    """Write a ``result.json`` document (indented UTF-8 JSON).

    Parameters
    ----------
    document : dict
        JSON-ready content, e.g. from :func:`result_document`.
    path : str or Path
        Output file.

    Returns
    -------
    Path
    """
    path = Path(path)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def write_label_map(result: AnalysisResult, volume: Volume, path: str | Path) -> Path:
    """Write the lesion label map as NIfTI on the input's grid and affine.

    Parameters
    ----------
    result : AnalysisResult
    volume : Volume
    path : str or Path
        Output file (``.nii.gz``).

    Returns
    -------
    Path
    """
    path = Path(path)
    image = nib.Nifti1Image(result.label_map, volume.affine)  # type: ignore[no-untyped-call]
    image.header.set_xyzt_units("mm")  # type: ignore[no-untyped-call]
    image.set_qform(volume.affine, code=1)  # type: ignore[no-untyped-call]
    image.set_sform(volume.affine, code=1)  # type: ignore[no-untyped-call]
    nib.save(image, str(path))
    return path


def write_outputs(result: AnalysisResult, volume: Volume, out_dir: str | Path) -> dict[str, Path]:
    """Write ``result.json`` and ``lesions.nii.gz`` into `out_dir`.

    Parameters
    ----------
    result : AnalysisResult
    volume : Volume
    out_dir : str or Path
        Created when missing.

    Returns
    -------
    dict of str to Path
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # two files, written at once: zlib compresses the label map on a second core
    # (calcdx._threads) while the JSON is encoded
    labels = submit(write_label_map, result, volume, out / "lesions.nii.gz")
    return {
        "result": write_result_json(result, volume, out / "result.json"),
        "labels": labels.result(),
    }
