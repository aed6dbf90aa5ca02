"""Read a CT volume from NIfTI-1/2 (``.nii``, ``.nii.gz``) with nibabel.

A NIfTI file does not say what its values are, so the reader checks that they
are Hounsfield units before anything is measured in them (:func:`check_hu`), and
that the header states a voxel size (pixdim) instead of letting a missing one
become 1 mm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcdx.errors import StudyError
from calcdx.io._limits import check_voxel_count
from calcdx.io._resample import one_warning, unshear
from calcdx.volume import Volume

__all__ = ["AIR_MAX_HU", "CLIP_FRACTION", "TISSUE_MIN_HU", "check_hu", "is_nifti_path",
           "nifti_shape", "read_nifti"]

_INT16 = np.iinfo(np.int16)

#: A CT in HU holds air (around the body, in lungs, bowel or sinuses): air is
#: -1000 HU by definition of the Hounsfield scale (water 0 HU; DICOM PS3.3
#: C.11.1.1.2, Rescale Type HU), stored by scanners as about -1000 to -1024 (and
#: -2048 or -3024 outside the reconstruction circle). The lowest value must be at
#: or below this.
AIR_MAX_HU = -900.0
#: ... and values must reach soft tissue (muscle and blood 40-80 HU, bone several
#: hundred): the highest value must be at or above this.
TISSUE_MIN_HU = 100.0
#: A display window clips every denser voxel to its upper bound: more than this
#: fraction of voxels sharing the maximum (below :data:`_SATURATION_HU`) is clipping.
#: On the real CT scans of the project the fraction is under 3e-6; bone alone is
#: 1-15 % of a body CT's voxels.
CLIP_FRACTION = 1e-3
#: ... and at least this many voxels (a tiny test volume's one dense voxel is no window).
CLIP_MIN_VOXELS = 1000
#: Scanners storing 12 bits saturate metal at 3071 HU; a pile-up there is real data.
_SATURATION_HU = 3000.0
_FIX = "give the CT in Hounsfield units (e.g. convert the original DICOM series with dcm2niix)"


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


def check_hu(data: NDArray[Any], name: str, *, stored_dtype: Any = None) -> None:
    """Refuse an image whose values are not Hounsfield units.

    The rule: the lowest value is at or below :data:`AIR_MAX_HU` (air), the
    highest at or above :data:`TISSUE_MIN_HU` (soft tissue and bone), and no more
    than :data:`CLIP_FRACTION` of the voxels (and :data:`CLIP_MIN_VOXELS`) sit
    at a maximum below 3000 HU (a display window). The message names the likely
    cause: 8-bit grey levels, values normalised to 0-1 or -1-1, z-scores, stored
    values without their rescale intercept, a window.

    Parameters
    ----------
    data : ndarray
        Voxel values after ``scl_slope`` and ``scl_inter``.
    name : str
        File name for the message.
    stored_dtype : numpy dtype, optional
        The data type on disk (``uint8`` names 8-bit grey levels).

    Raises
    ------
    StudyError
        One line naming what the values look like and how to fix it.
    """
    if data.size == 0:
        return
    lo, hi = float(data.min()), float(data.max())
    span = f"{name} holds values from {lo:.4g} to {hi:.4g}"
    if lo > AIR_MAX_HU:
        is_float = np.issubdtype(data.dtype, np.floating)
        if is_float and lo >= -1.0 and hi <= 1.0:
            what = "intensities normalised to 0-1" if lo >= 0 else "intensities normalised to -1-1"
        elif is_float and hi <= 50.0 and abs(float(data.mean())) < 0.1 and (
            abs(float(data.std()) - 1.0) < 0.1
        ):
            what = (f"z-scores (mean {float(data.mean()):.2f}, SD {float(data.std()):.2f}), "
                    "standardised intensities")
        elif lo >= 0 and hi <= 255:
            stored = "" if stored_dtype is None else f", stored as {np.dtype(stored_dtype)}"
            what = (f"grey levels or labels within 0-255{stored} (a windowed picture or a "
                    "segmentation)")
        elif lo >= 0:
            raise StudyError(
                f"{span}, but air is about -1000 HU: these are stored pixel values without "
                "their rescale intercept; set scl_slope and scl_inter to the series' "
                "RescaleSlope and RescaleIntercept (often 1 and -1024), or convert the DICOM "
                "series with dcm2niix"
            )
        else:
            what = "values with no air (a windowed, rescaled or cropped image)"
        raise StudyError(
            f"{span}: {what}, not Hounsfield units (a CT holds air at about -1000 HU, "
            f"below {AIR_MAX_HU:.0f}); {_FIX}"
        )
    if hi < TISSUE_MIN_HU:
        raise StudyError(
            f"{span}: nothing reaches soft tissue or bone (at least {TISSUE_MIN_HU:.0f} HU in "
            f"a CT), so the values are rescaled or not CT; {_FIX}"
        )
    if hi < _SATURATION_HU:
        n_max = int(np.count_nonzero(data == data.max()))
        at_max = n_max / data.size
        if at_max > CLIP_FRACTION and n_max >= CLIP_MIN_VOXELS:
            raise StudyError(
                f"{span}, and {100 * at_max:.2f} % of the voxels sit at the maximum: the "
                f"values are clipped by a display window at {hi:.4g}; {_FIX}, not windowed"
            )


def _check_pixdim(file: Path) -> None:
    """Refuse a voxel size of 0, below 0 or not a number (nibabel would make it 1 mm).

    The header is read unchecked, before :func:`nibabel.load`, whose checks repair
    pixdim with only a log line. A header that cannot be read is left to
    :func:`nibabel.load` to report.
    """
    import nibabel as nib
    from nibabel.openers import ImageOpener

    try:
        with ImageOpener(str(file)) as opener:
            size = np.frombuffer(opener.read(4), dtype="<i4")
            opener.seek(0)
            kind: Any = nib.Nifti2Header if size.size and size[0] in (540, 0x1C020000) else (
                nib.Nifti1Header)
            header: Any = kind.from_fileobj(opener, check=False)
    except Exception:  # not a readable header: nibabel.load names the problem
        return
    pixdim = np.asarray(header["pixdim"], dtype=np.float64)
    n_spatial = min(3, int(header["dim"][0]))
    for axis in range(1, n_spatial + 1):
        value = float(pixdim[axis])
        if not np.isfinite(value) or value <= 0:
            raise StudyError(
                f"{file.name}: pixdim[{axis}], the voxel size along axis {axis}, is {value:g}, not "
                "a positive number of mm, so the voxel size is unknown (read as 1 mm by some "
                "tools, by others from the affine); set the voxel size in the header (nibabel: "
                "header.set_zooms) or convert the DICOM series again with dcm2niix"
            )


def _unreadable(file: Path, exc: Exception) -> StudyError:
    return StudyError(
        f"{file.name} cannot be read as NIfTI ({_reason(exc)}); check that the file "
        "is complete and really NIfTI"
    )


def _load_header(file: Path) -> tuple[Any, tuple[int, ...]]:
    """The nibabel image (data not read) and the shape its header declares."""
    import nibabel as nib

    if not file.is_file():
        raise StudyError(
            f"{file} does not exist; give a NIfTI file, a DICOM folder or a DICOM file"
        )
    _check_pixdim(file)
    try:
        image: Any = nib.load(file)
        shape = tuple(int(n) for n in image.header.get_data_shape())
    except Exception as exc:  # any nibabel failure: unusable file
        raise _unreadable(file, exc) from exc
    return image, shape


def nifti_shape(path: str | Path) -> tuple[int, ...]:
    """The image shape a NIfTI header declares, without reading the voxels.

    Raises
    ------
    StudyError
        If the file is missing, its header unreadable or its voxel size unknown.
    """
    return _load_header(Path(path))[1]


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
        If the file is missing or unreadable, the image is not 3-D, a voxel size
        (pixdim) is 0, negative or NaN, or the values are not HU
        (:func:`check_hu`).
    """
    file = Path(path)
    image, shape = _load_header(file)
    check_voxel_count(shape, file.name)
    try:
        raw = image.dataobj
        data: NDArray[Any] = np.asarray(raw)  # applies scl_slope / scl_inter when set
    except Exception as exc:  # any nibabel failure: unusable file
        raise _unreadable(file, exc) from exc
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
    check_hu(data, file.name, stored_dtype=image.get_data_dtype())
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
