"""Read a CT volume from NIfTI-1/2 (``.nii``, ``.nii.gz``) with nibabel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcdx.errors import StudyError
from calcdx.io._resample import one_warning, unshear
from calcdx.volume import Volume

__all__ = ["is_nifti_path", "read_nifti"]

_INT16 = np.iinfo(np.int16)


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


def is_nifti_path(path: str | Path) -> bool:
    """Return True if the file name ends in ``.nii`` or ``.nii.gz``."""
    name = Path(path).name.lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


def read_nifti(path: str | Path) -> Volume:
    """Read a 3-D NIfTI image as HU with its affine.

    Parameters
    ----------
    path : str or Path
        ``.nii`` or ``.nii.gz`` file whose voxel values (after ``scl_slope`` and
        ``scl_inter``) are Hounsfield units.

    Returns
    -------
    Volume
        HU as int16 when the stored values are integers in range, else float32,
        and the affine nibabel chooses (sform, then qform). A sheared affine
        (gantry tilt kept in the slice axis) is resampled onto an orthogonal grid
        (:func:`calcdx.io._resample.unshear`), said in ``warnings``.

    Raises
    ------
    StudyError
        If the file is missing or unreadable, or the image is not 3-D.
    """
    import nibabel as nib

    file = Path(path)
    if not file.is_file():
        raise StudyError(
            f"{file} does not exist; give a NIfTI file, a DICOM folder or a DICOM file"
        )
    try:
        image: Any = nib.load(file)
        raw = image.dataobj
        data: NDArray[Any] = np.asarray(raw)  # applies scl_slope / scl_inter when set
    except Exception as exc:  # any nibabel failure: unusable file
        raise StudyError(
            f"{file.name} cannot be read as NIfTI ({_reason(exc)}); check that the file "
            "is complete and really NIfTI"
        ) from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise StudyError(
            f"{file.name} has shape {data.shape}; calcdx needs one 3-D CT volume, "
            "extract one volume first"
        )
    warnings: list[str] = []
    header: Any = image.header
    if int(header.get("sform_code", 0)) == 0 and int(header.get("qform_code", 0)) == 0:
        warnings.append(
            "the NIfTI header has no orientation (qform and sform codes are 0): axes assumed"
        )
    if np.issubdtype(data.dtype, np.integer):
        if data.size and (data.min() < _INT16.min or data.max() > _INT16.max):
            data = data.astype(np.float32)
        else:
            data = data.astype(np.int16, copy=False)
    else:
        data = data.astype(np.float32, copy=False)
        if not np.all(np.isfinite(data)):
            raise StudyError(f"{file.name} holds NaN or infinite values; give a CT volume in HU")
    if data.size and float(data.min()) >= 0:
        warnings.append(
            "no voxel is below 0 HU although air is about -1000 HU: the values may lack "
            "their rescale intercept (set scl_inter)"
        )
    affine: NDArray[np.float64] = np.asarray(image.affine, dtype=np.float64)
    try:
        data, affine, reasons = unshear(data, affine)
    except ValueError:
        raise StudyError(
            f"{file.name}: the affine's in-plane axes are not perpendicular; give a CT "
            "volume on a rectangular grid"
        ) from None
    if reasons:
        warnings.append(one_warning(reasons))
    zooms = header.get_zooms()
    metadata: dict[str, Any] = {
        "source": "nifti",
        "modality": "CT",
        "series_uid": None,
        "study_uid": None,
        "manufacturer": None,
        "kvp": None,
        "convolution_kernel": None,
        "slice_thickness_mm": float(zooms[2]) if len(zooms) > 2 else None,
        "series_choice": "single NIfTI image",
        "resampled": "; ".join(reasons[:-1]) or None,
        "warnings": warnings,
    }
    return Volume(hu=data, affine=affine, metadata=metadata)
