"""The in-memory CT volume: Hounsfield units on a voxel grid with a patient-space affine.

Everything downstream of the readers works on :class:`Volume` only, in mm and HU,
whatever the input's file format or orientation.

Conventions
-----------
* ``hu`` has shape ``(I, J, K)``; ``hu[i, j, k]`` is one voxel. The DICOM reader
  builds axis 0 = column, axis 1 = row, axis 2 = slice (sorted along the slice
  normal), so ``hu[:, :, k]`` is one slice, the layout nibabel gives for NIfTI.
* ``affine`` (4 x 4) maps voxel indices ``(i, j, k, 1)`` to patient coordinates
  in mm in RAS+, the NIfTI world space: x grows towards the patient's Right,
  y towards Anterior, z towards Superior. DICOM's LPS coordinates convert with
  ``diag(-1, -1, 1)`` (:data:`LPS_TO_RAS`).
* The label map calcdx writes uses the same grid and affine as the input, so it
  overlays in 3D Slicer and ITK-SNAP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcdx.errors import StudyError

__all__ = ["LPS_TO_RAS", "Volume"]

#: Converts DICOM patient coordinates (LPS) to NIfTI world coordinates (RAS+).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class Volume:
    """A CT volume in Hounsfield units with its geometry.

    Parameters
    ----------
    hu : (I, J, K) ndarray of int16 or float32
        Attenuation in Hounsfield units (rescale slope and intercept applied).
    affine : (4, 4) ndarray of float64
        Voxel index to RAS+ patient coordinates in mm.
    metadata : dict
        Provenance without patient identifiers: source kind (``"dicom"`` or
        ``"nifti"``), series and study instance UIDs, modality, manufacturer,
        kVp, convolution kernel, slice thickness in mm, warnings.

    Raises
    ------
    StudyError
        If the array is not 3-D, or the affine is not an invertible 4 x 4 matrix
        with finite entries.
    """

    hu: NDArray[Any]
    affine: NDArray[np.float64]
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.hu.ndim != 3:
            raise StudyError(
                f"a CT volume must be 3-D, got shape {self.hu.shape}; give a series of "
                "slices or a 3-D NIfTI image"
            )
        if min(self.hu.shape) < 1:
            raise StudyError(f"the CT volume is empty (shape {self.hu.shape})")
        affine = np.asarray(self.affine, dtype=np.float64)
        if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
            raise StudyError("the volume's affine must be a finite 4 x 4 matrix")
        if abs(np.linalg.det(affine[:3, :3])) < 1e-6:
            raise StudyError(
                "the volume's geometry is degenerate (zero voxel size or parallel axes); "
                "check PixelSpacing, slice positions or the NIfTI affine"
            )
        object.__setattr__(self, "affine", affine)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Grid shape ``(I, J, K)``."""
        i, j, k = self.hu.shape
        return int(i), int(j), int(k)

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """Voxel size along the three grid axes, in mm."""
        norms = np.linalg.norm(self.affine[:3, :3], axis=0)
        return float(norms[0]), float(norms[1]), float(norms[2])

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel, in mm^3."""
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    def world_mm(self, ijk: NDArray[Any]) -> NDArray[np.float64]:
        """Map voxel indices to RAS+ patient coordinates.

        Parameters
        ----------
        ijk : (..., 3) array_like
            Voxel indices (fractional allowed).

        Returns
        -------
        (..., 3) ndarray of float64
            Coordinates in mm.
        """
        points = np.asarray(ijk, dtype=np.float64)
        return points @ self.affine[:3, :3].T + self.affine[:3, 3]
