"""Read CT studies: DICOM folders or files and NIfTI images, into a :class:`Volume`.

:func:`read_volume` is the one entry point; :func:`list_series` backs
``calcdx series PATH``.
"""

from __future__ import annotations

from pathlib import Path

from calcdx.io.dicom import SeriesInfo, list_dicom_series, read_dicom
from calcdx.io.nifti import is_nifti_path, nifti_shape, read_nifti
from calcdx.volume import Volume

__all__ = ["SeriesInfo", "list_series", "read_volume"]


def read_volume(path: str | Path, *, series_uid: str | None = None) -> Volume:
    """Read a CT volume in HU with its voxel-to-RAS+ affine.

    Parameters
    ----------
    path : str or Path
        A ``.nii``/``.nii.gz`` file, a DICOM file, or a folder searched
        recursively for DICOM files.
    series_uid : str, optional
        SeriesInstanceUID to read from a DICOM folder holding several series;
        ignored for NIfTI.

    Returns
    -------
    Volume
        See :func:`calcdx.io.dicom.read_dicom` and :func:`calcdx.io.nifti.read_nifti`.

    Raises
    ------
    StudyError
        If the input cannot be read or is not a usable CT volume.
    """
    if is_nifti_path(path):
        return read_nifti(path)
    return read_dicom(path, series_uid=series_uid)


def list_series(path: str | Path) -> list[SeriesInfo]:
    """List the image series under ``path`` (a NIfTI file counts as one).

    Returns
    -------
    list of SeriesInfo
        Most slices first. A NIfTI file is listed from its header alone (its
        values are checked when it is read).
    """
    if is_nifti_path(path):
        shape = nifti_shape(path)  # the header only: listing reads no voxels
        return [
            SeriesInfo(
                uid="",
                modality="CT",
                description=Path(path).name,
                n_slices=shape[2] if len(shape) > 2 else 1,
                image_type=(),
                orientation="volume",
                study_uid="",
                n_files=1,
            )
        ]
    return list_dicom_series(path)
