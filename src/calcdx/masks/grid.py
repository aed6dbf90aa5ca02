"""A coarse sampling grid for whole-volume masks and distance maps.

Whole-volume morphology and distance transforms on a 400 x 512 x 512 CT cost
seconds each at full resolution. calcdx computes them once on a coarse grid of
about 3 mm voxels (a strided view of the full grid) and looks values up at the
full-resolution voxels that need them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["CoarseGrid", "box_overlap", "coarse_grid"]


def box_overlap(
    lo: NDArray[np.integer[Any]], hi: NDArray[np.integer[Any]],
    offset: tuple[int, ...] | NDArray[np.integer[Any]], shape: tuple[int, ...],
) -> tuple[tuple[slice, ...], tuple[slice, ...]] | None:
    """Where the full-grid box ``[lo, hi)`` meets an array stored at `offset`.

    Parameters
    ----------
    lo, hi : ndarray of int, shape (3,)
        Corners of the box on the full grid (voxel indices, `hi` exclusive).
    offset : sequence of int, length 3
        Full-grid index of the stored array's first voxel.
    shape : tuple of int
        Shape of the stored array.

    Returns
    -------
    tuple of (tuple of slice, tuple of slice), or None
        Slices of the overlap within the box and within the stored array, or None
        when they do not meet.
    """
    off = np.asarray(offset)
    a = np.maximum(lo, off)
    b = np.minimum(hi, off + np.asarray(shape))
    if np.any(b <= a):
        return None
    in_box = tuple(slice(int(x - o), int(y - o)) for x, y, o in zip(a, b, lo, strict=True))
    in_array = tuple(slice(int(x - o), int(y - o)) for x, y, o in zip(a, b, off, strict=True))
    return in_box, in_array


@dataclass(frozen=True)
class CoarseGrid:
    """A strided sub-grid of a full voxel grid.

    Attributes
    ----------
    full_shape : tuple of int
        Shape ``(I, J, K)`` of the full grid.
    factors : tuple of int
        Stride along each axis; coarse cell ``c`` covers full voxels
        ``[c * f, (c + 1) * f)`` and is sampled at its middle voxel.
    full_spacing_mm : tuple of float
        Full-grid voxel size in mm.
    """

    full_shape: tuple[int, int, int]
    factors: tuple[int, int, int]
    full_spacing_mm: tuple[float, float, float]

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of the coarse grid."""
        s = tuple(-(-n // f) for n, f in zip(self.full_shape, self.factors, strict=True))
        return int(s[0]), int(s[1]), int(s[2])

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """Coarse voxel size in mm."""
        a, b, c = (s * f for s, f in zip(self.full_spacing_mm, self.factors, strict=True))
        return float(a), float(b), float(c)

    def sample(self, array: NDArray[Any]) -> NDArray[Any]:
        """Sample a full-grid array at the coarse cell centres.

        Parameters
        ----------
        array : (I, J, K) ndarray
            Full-grid array.

        Returns
        -------
        ndarray, shape ``self.shape``
            A copy holding the value at each cell's middle voxel (the last cell
            of an axis uses its last full voxel when it is short).
        """
        idx = [
            np.minimum(np.arange(n) * f + f // 2, full - 1)
            for n, f, full in zip(self.shape, self.factors, self.full_shape, strict=True)
        ]
        return np.asarray(array[np.ix_(idx[0], idx[1], idx[2])])

    def to_coarse(self, ijk: NDArray[np.integer[Any]]) -> NDArray[np.intp]:
        """Map full-grid voxel indices to coarse-cell indices.

        Parameters
        ----------
        ijk : (N, 3) ndarray of int
            Full-grid indices.

        Returns
        -------
        (N, 3) ndarray of intp
        """
        ijk = np.asarray(ijk)
        out = np.empty(ijk.shape, dtype=np.intp)
        # column by column, each by a scalar (numpy's fast integer division), in the
        # input's own integer type: the same floor quotients
        for axis, f in enumerate(self.factors):
            out[:, axis] = ijk[:, axis] // int(f)
        return out

    def upsample(self, coarse: NDArray[Any]) -> NDArray[Any]:
        """Nearest-neighbour upsampling of a coarse array to the full grid.

        Parameters
        ----------
        coarse : ndarray, shape ``self.shape``

        Returns
        -------
        (I, J, K) ndarray
        """
        # Full voxel n takes cell n // f: each cell repeated as many times as it has
        # voxels (f, fewer in a short last cell), the slice axis first and the first
        # axis last (whole planes copied), so no cut and no strided copy is needed.
        out = np.asarray(coarse)
        counts = [np.bincount(np.arange(n) // f, minlength=m)
                  for n, f, m in zip(self.full_shape, self.factors, out.shape, strict=True)]
        if any(len(c) != m for c, m in zip(counts, out.shape, strict=True)):
            # voxels beyond the coarse grid: each cell repeated f times, cut to the grid
            for axis, (n, f) in enumerate(zip(self.full_shape, self.factors, strict=True)):
                out = np.repeat(out, f, axis=axis)[(slice(None),) * axis + (slice(0, n),)]
            return np.ascontiguousarray(out)
        for axis in (2, 1, 0):
            out = np.repeat(out, counts[axis], axis=axis)
        return np.ascontiguousarray(out)

    def occupancy(self, ijk: NDArray[np.integer[Any]]) -> NDArray[np.bool_]:
        """Coarse cells holding at least one of the given full-grid voxels.

        Parameters
        ----------
        ijk : (N, 3) ndarray of int
            Full-grid indices.

        Returns
        -------
        ndarray of bool, shape ``self.shape``
        """
        out = np.zeros(self.shape, dtype=bool)
        if len(ijk):
            c = self.to_coarse(ijk)
            out[c[:, 0], c[:, 1], c[:, 2]] = True
        return out


def coarse_grid(
    shape: tuple[int, int, int],
    spacing_mm: tuple[float, float, float],
    *,
    target_mm: float = 3.0,
) -> CoarseGrid:
    """Choose strides giving coarse voxels of about `target_mm`.

    Parameters
    ----------
    shape : tuple of int
        Full grid shape ``(I, J, K)``.
    spacing_mm : tuple of float
        Full voxel size in mm.
    target_mm : float
        Wanted coarse voxel size in mm; no axis is strided beyond it.

    Returns
    -------
    CoarseGrid
    """
    factors = tuple(max(1, int(target_mm // max(s, 1e-6))) for s in spacing_mm)
    return CoarseGrid(
        full_shape=(int(shape[0]), int(shape[1]), int(shape[2])),
        factors=(factors[0], factors[1], factors[2]),
        full_spacing_mm=(float(spacing_mm[0]), float(spacing_mm[1]), float(spacing_mm[2])),
    )
