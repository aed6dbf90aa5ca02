"""Voxel grid of the phantom: millimetre coordinates and the RAS+ affine.

The phantom is laid out in *grid millimetres* centred on the field of view:
``x`` along voxel axis 0 (towards the patient's left), ``y`` along axis 1
(towards posterior) and ``z`` along axis 2 (towards superior), the layout of an
axial DICOM series read by :func:`calcdx.io.read_volume`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Box", "Grid"]

FloatArray = NDArray[np.float64]
Box = tuple[tuple[slice, slice, slice], FloatArray, FloatArray, FloatArray]


@dataclass(frozen=True)
class Grid:
    """A voxel grid with millimetre coordinates.

    Parameters
    ----------
    shape : tuple of 3 int
        Grid shape ``(I, J, K)``.
    spacing : tuple of 3 float
        Voxel size along the three axes, in mm.
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]

    def axis_mm(self, axis: int) -> FloatArray:
        """Return the voxel-centre coordinates along one axis, in grid mm, shape ``(n,)``."""
        n = self.shape[axis]
        return (np.arange(n, dtype=np.float64) - (n - 1) / 2.0) * self.spacing[axis]

    def mesh(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Return open-mesh coordinates ``x (I,1,1)``, ``y (1,J,1)``, ``z (1,1,K)`` in mm."""
        x, y, z = (self.axis_mm(a) for a in range(3))
        return x[:, None, None], y[None, :, None], z[None, None, :]

    def affine(self) -> FloatArray:
        """Return the voxel-to-RAS+ affine, shape ``(4, 4)``.

        Axis 0 runs towards the patient's left and axis 1 towards posterior (as
        in an axial DICOM series), so their RAS+ columns are negative; the grid
        centre maps to the RAS+ origin.
        """
        sx, sy, sz = self.spacing
        centre = [(n - 1) / 2.0 for n in self.shape]
        affine = np.diag([-sx, -sy, sz, 1.0])
        affine[:3, 3] = [centre[0] * sx, centre[1] * sy, -centre[2] * sz]
        return affine

    def to_world(self, grid_mm: FloatArray) -> FloatArray:
        """Convert grid mm ``(..., 3)`` to RAS+ mm ``(..., 3)``."""
        flip = np.array([-1.0, -1.0, 1.0])
        return np.asarray(np.asarray(grid_mm, dtype=np.float64) * flip, dtype=np.float64)

    def contains(self, lo: FloatArray, hi: FloatArray) -> bool:
        """Return True if the axis-aligned box ``[lo, hi]`` (mm) lies inside the grid."""
        for axis in range(3):
            half = (self.shape[axis] - 1) / 2.0 * self.spacing[axis]
            if lo[axis] < -half or hi[axis] > half:
                return False
        return True

    def box(self, lo: FloatArray, hi: FloatArray) -> Box | None:
        """Return the voxels whose centres lie in ``[lo, hi]`` (mm).

        Returns
        -------
        (slices, x, y, z) or None
            Index slices into the grid and open-mesh grid-mm coordinates of the
            box (shapes ``(n,1,1)``, ``(1,m,1)``, ``(1,1,p)``); None if the box
            misses the grid.
        """
        slices: list[slice] = []
        coords: list[FloatArray] = []
        for axis in range(3):
            mm = self.axis_mm(axis)
            inside = np.flatnonzero((mm >= lo[axis]) & (mm <= hi[axis]))
            if inside.size == 0:
                return None
            sl = slice(int(inside[0]), int(inside[-1]) + 1)
            slices.append(sl)
            coords.append(mm[sl])
        x, y, z = coords
        return (
            (slices[0], slices[1], slices[2]),
            x[:, None, None],
            y[None, :, None],
            z[None, None, :],
        )
