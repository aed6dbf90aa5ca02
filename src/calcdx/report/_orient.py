"""Reorient a voxel grid to patient axes (RAS+) for display, from the affine alone.

Display conventions (radiological): the patient's right is on the image's left;
axial images have anterior up, coronal images have superior up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nibabel as nib
import numpy as np
from numpy.typing import NDArray

__all__ = ["Canonical", "canonical"]


@dataclass(frozen=True)
class Canonical:
    """How a grid maps onto patient axes.

    Attributes
    ----------
    perm : tuple of 3 int
        ``perm[w]`` is the grid axis that runs closest to world axis ``w``
        (0 = Right, 1 = Anterior, 2 = Superior).
    flip : tuple of 3 bool
        Whether that grid axis runs against its world axis.
    shape : tuple of 3 int
        Shape of the reoriented (x, y, z) grid.
    spacing_mm : tuple of 3 float
        Voxel size along the reoriented axes.
    """

    perm: tuple[int, int, int]
    flip: tuple[bool, bool, bool]
    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]

    def array(self, arr: NDArray[Any]) -> NDArray[Any]:
        """View `arr` (original grid) with axes (x to Right, y to Anterior, z to Superior)."""
        out = np.transpose(arr, self.perm)
        for axis, flipped in enumerate(self.flip):
            if flipped:
                out = np.flip(out, axis=axis)
        return out

    def index(self, ijk: NDArray[Any]) -> NDArray[np.float64]:
        """Map original voxel indices, shape (..., 3), to reoriented indices."""
        pts = np.asarray(ijk, dtype=np.float64)[..., list(self.perm)]
        size = np.asarray(self.shape, dtype=np.float64) - 1.0
        return np.where(np.asarray(self.flip), size - pts, pts)


def canonical(affine: NDArray[np.float64], shape: tuple[int, int, int]) -> Canonical:
    """Work out the reorientation of a grid to RAS+ from its affine.

    Parameters
    ----------
    affine : (4, 4) ndarray
        Voxel to RAS+ mm.
    shape : tuple of 3 int
        Grid shape.

    Returns
    -------
    Canonical
    """
    ornt = nib.orientations.io_orientation(affine)  # type: ignore[no-untyped-call]
    perm = [0, 0, 0]
    flip = [False, False, False]
    for axis, (world, direction) in enumerate(ornt):
        perm[int(world)] = axis
        flip[int(world)] = bool(direction < 0)
    norms = np.linalg.norm(np.asarray(affine)[:3, :3], axis=0)
    return Canonical(
        perm=(perm[0], perm[1], perm[2]),
        flip=(flip[0], flip[1], flip[2]),
        shape=(int(shape[perm[0]]), int(shape[perm[1]]), int(shape[perm[2]])),
        spacing_mm=(float(norms[perm[0]]), float(norms[perm[1]]), float(norms[perm[2]])),
    )
