"""Write a volume as NIfTI or as a CT DICOM series, and the whole phantom to a folder.

The DICOM writer produces valid single-frame CT Image Storage files whose
geometry (ImagePositionPatient, ImageOrientationPatient, PixelSpacing) is the
volume's affine converted back to DICOM's LPS space, so reading the series with
:func:`calcdx.io.read_volume` gives back the same HU array and affine. File names
and InstanceNumbers can be shuffled so that slice order can only come from the
geometry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    generate_uid,
)

from calcdx.errors import InputError
from calcdx.phantom._build import make_phantom
from calcdx.phantom._model import Phantom
from calcdx.volume import LPS_TO_RAS, Volume

__all__ = ["phantom_command", "write_dicom_series", "write_nifti", "write_phantom"]

_UNCOMPRESSED = (ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian)


def write_nifti(
    image: Phantom | Volume, path: str | Path, *, labels: NDArray[np.integer[Any]] | None = None
) -> Path:
    """Write a volume (or a phantom's volume) as NIfTI-1 with its RAS+ affine.

    Parameters
    ----------
    image : Phantom or Volume
        What to write; for a phantom, its CT volume.
    path : str or Path
        Output file, ``.nii`` or ``.nii.gz``.
    labels : (I, J, K) ndarray of int, optional
        Write this array instead of the HU array, on the same grid and affine
        (e.g. ``phantom.labels``).

    Returns
    -------
    Path
        The written file.
    """
    import nibabel as nib

    volume = image.volume if isinstance(image, Phantom) else image
    data = volume.hu if labels is None else labels
    if data.shape != volume.shape:
        raise InputError(f"labels shape {data.shape} differs from the volume's {volume.shape}")
    nifti: Any = nib.Nifti1Image(np.asarray(data), volume.affine)  # type: ignore[no-untyped-call]
    nifti.set_qform(volume.affine, code=1)
    nifti.set_sform(volume.affine, code=1)
    nifti.header.set_xyzt_units("mm", "sec")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nifti, out)
    return out


def _lps_geometry(
    affine: NDArray[np.float64],
) -> tuple[NDArray[np.float64], list[float], NDArray[np.float64]]:
    """Return (ImageOrientationPatient (6,), PixelSpacing [row, col], LPS affine)."""
    lps = LPS_TO_RAS @ affine
    col_step, row_step = lps[:3, 0], lps[:3, 1]
    col_spacing, row_spacing = float(np.linalg.norm(col_step)), float(np.linalg.norm(row_step))
    orientation = np.concatenate([col_step / col_spacing, row_step / row_spacing])
    return orientation, [row_spacing, col_spacing], lps


def _ds_number(value: float) -> str:
    """Format a float as a DICOM decimal string (at most 16 characters)."""
    text = f"{value:.10g}"
    if len(text) > 16:
        text = f"{value:.6e}"
    return text


def write_dicom_series(
    volume: Volume,
    folder: str | Path,
    *,
    shuffle: bool = True,
    seed: int = 0,
    transfer_syntax: str = ExplicitVRLittleEndian,
    series_description: str = "calcdx phantom",
    modality: str = "CT",
    series_uid: str | None = None,
    study_uid: str | None = None,
) -> list[Path]:
    """Write a volume as a single-frame CT DICOM series, one file per slice.

    Parameters
    ----------
    volume : Volume
        Volume to write; HU are rounded to integers. Slice ``k`` is
        ``volume.hu[:, :, k]``, stored transposed as ``Rows x Columns``.
    folder : str or Path
        Output folder (created if missing).
    shuffle : bool
        Give files random names and shuffled InstanceNumbers, so the slice order
        can only be recovered from ImagePositionPatient.
    seed : int
        Seed of the shuffling.
    transfer_syntax : str
        Transfer syntax UID: Explicit VR Little Endian (default), Deflated
        Explicit VR Little Endian, or a lossless compressed syntax pydicom can
        encode here (RLE Lossless, JPEG 2000 Lossless, JPEG-LS Lossless).
    series_description : str
        SeriesDescription of the series.
    modality : str
        Modality attribute (``"CT"``; other values make test series).
    series_uid, study_uid : str, optional
        UIDs to use; new ones are generated if not given.

    Returns
    -------
    list of Path
        The written files, in slice order (``k = 0, 1, ...``).

    Notes
    -----
    Pixels are stored as unsigned 16-bit with RescaleIntercept -1024 and
    RescaleSlope 1 when HU lie in [-1024, 64511], otherwise as signed 16-bit with
    intercept 0. The geometry is the affine in LPS: the row direction cosine is
    the direction of voxel axis 0, the column direction cosine that of axis 1,
    and ImagePositionPatient of slice ``k`` is ``affine @ (0, 0, k, 1)``.
    """
    uid = UID(transfer_syntax)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    hu = np.rint(np.asarray(volume.hu, dtype=np.float64))
    lo, hi = float(hu.min()), float(hu.max())
    if lo >= -1024 and hi <= 65535 - 1024:
        stored_dtype: type[np.integer[Any]] = np.uint16
        intercept = -1024.0
    elif lo >= -32768 and hi <= 32767:
        stored_dtype, intercept = np.int16, 0.0
    else:
        raise InputError(f"HU range {lo:g}..{hi:g} does not fit 16-bit DICOM pixels")
    orientation, pixel_spacing, lps = _lps_geometry(volume.affine)
    n_slices = volume.shape[2]
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_slices) if shuffle else np.arange(n_slices)
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    frame_uid = generate_uid()
    meta = volume.metadata
    paths: list[Path] = []
    for k in range(n_slices):
        sop_uid = generate_uid()
        file_meta = FileMetaDataset()
        file_meta.MediaStorageSOPClassUID = CTImageStorage
        file_meta.MediaStorageSOPInstanceUID = sop_uid
        file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds = Dataset()
        ds.file_meta = file_meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.Modality = modality
        ds.PatientName = "CALCDX^PHANTOM"
        ds.PatientID = "CALCDX-PHANTOM"
        ds.PatientBirthDate = "19000101"
        ds.PatientSex = "O"
        ds.StudyDate = ds.SeriesDate = "20240101"
        ds.StudyTime = ds.SeriesTime = "120000"
        ds.StudyID = "1"
        ds.AccessionNumber = ""
        ds.ReferringPhysicianName = ""
        ds.SeriesNumber = 1
        ds.InstanceNumber = int(order[k]) + 1
        ds.SeriesDescription = series_description
        ds.Manufacturer = str(meta.get("manufacturer") or "calcdx")
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.KVP = _ds_number(float(meta.get("kvp") or 120.0))
        ds.ConvolutionKernel = str(meta.get("convolution_kernel") or "STANDARD")
        ds.SliceThickness = _ds_number(volume.spacing_mm[2])
        ds.SpacingBetweenSlices = _ds_number(volume.spacing_mm[2])
        ds.PatientPosition = "HFS"
        ds.ImagePositionPatient = [_ds_number(v) for v in lps[:3, 3] + k * lps[:3, 2]]
        ds.ImageOrientationPatient = [_ds_number(v) for v in orientation]
        ds.PixelSpacing = [_ds_number(v) for v in pixel_spacing]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = volume.shape[1], volume.shape[0]
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1 if stored_dtype is np.int16 else 0
        ds.RescaleIntercept = _ds_number(intercept)
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
        pixels = np.ascontiguousarray((hu[:, :, k].T - intercept).astype(stored_dtype))
        ds.PixelData = pixels.tobytes()
        if uid.is_compressed:
            ds.compress(uid, pixels)
        elif uid != ExplicitVRLittleEndian:
            if uid not in _UNCOMPRESSED:
                raise InputError(f"cannot write transfer syntax {uid.name}; use a lossless one")
            ds.file_meta.TransferSyntaxUID = uid
        name = f"{rng.integers(16**12):012x}.dcm" if shuffle else f"slice{k:04d}.dcm"
        path = out / name
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_phantom(
    out_dir: str | Path,
    *,
    contrast: bool = False,
    seed: int = 0,
    shape: tuple[int, int, int] = (192, 192, 96),
    spacing_mm: tuple[float, float, float] = (0.8, 0.8, 2.0),
) -> dict[str, Path]:
    """Build a phantom and write it as NIfTI, a shuffled DICOM series and truth JSON.

    Parameters
    ----------
    out_dir : str or Path
        Output folder (created if missing).
    contrast, seed, shape, spacing_mm
        Passed to :func:`calcdx.phantom.make_phantom`.

    Returns
    -------
    dict of str to Path
        ``"nifti"`` (``phantom.nii.gz``), ``"labels"`` (``phantom_labels.nii.gz``,
        planted lesion ids), ``"dicom"`` (folder ``dicom/``) and ``"truth"``
        (``truth.json``: kinds, voxel and analytic volumes, centres in RAS+ mm).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    phantom = make_phantom(shape=shape, spacing_mm=spacing_mm, contrast=contrast, seed=seed)
    written = {
        "nifti": write_nifti(phantom, out / "phantom.nii.gz"),
        "labels": write_nifti(phantom, out / "phantom_labels.nii.gz", labels=phantom.labels),
        "dicom": out / "dicom",
    }
    write_dicom_series(
        phantom.volume,
        written["dicom"],
        shuffle=True,
        seed=seed,
        series_description="calcdx phantom" + (" with contrast" if contrast else ""),
    )
    truth_path = out / "truth.json"
    truth_path.write_text(json.dumps(phantom.truth_dict(), indent=2) + "\n", encoding="utf-8")
    written["truth"] = truth_path
    return written


def phantom_command(out: Path, contrast: bool = False, seed: int = 0) -> list[Path]:
    """Back end of ``calcdx phantom OUT``: write the default phantom, return the paths."""
    return list(write_phantom(out, contrast=contrast, seed=seed).values())
