"""Body mask: the patient, without air, the scanner table or anything outside.

Method (on the ~4 mm coarse grid of :mod:`calcdx.masks.grid`):

1. tissue = HU > ``air_hu`` (default -400 HU, between lung and fat);
2. a per-slice opening with a disk of radius ``table_gap_mm`` cuts thin bridges
   (cushions, sheets, the thin shell of a carbon table);
3. 3-D connected components (6-connected); the largest is the body, other
   components are kept when they hold at least ``min_part_fraction`` of its
   volume and are not flat plates (a plate thinner than ``plate_mm`` across one
   in-plane axis yet wider than 100 mm is a table);
4. the kept parts are dilated back by the same disk (within tissue), and holes
   are filled per slice (lungs, bowel gas).

A field of view that crops the body is handled: distance transforms treat the
image edge as unknown, not as skin, so a cut edge is never taken for the skin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cc3d
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi

from calcdx.masks.grid import CoarseGrid, coarse_grid

__all__ = ["BodyMask", "body_mask", "compute_body", "disk_structure"]


@dataclass(frozen=True)
class BodyMask:
    """The body on a coarse grid, with the distance to the skin.

    Attributes
    ----------
    grid : CoarseGrid
        The coarse grid the masks live on.
    coarse : ndarray of bool, shape ``grid.shape``
        True inside the body.
    skin_distance_mm : ndarray of float32, shape ``grid.shape``
        Euclidean distance in mm from each body cell to the nearest non-body
        cell (0 outside the body).
    n_parts : int
        Number of separate body parts kept (e.g. two legs).
    table_removed : bool
        True when a component outside the body (table, cushion) was discarded.
    """

    grid: CoarseGrid
    coarse: NDArray[np.bool_]
    skin_distance_mm: NDArray[np.float32]
    n_parts: int
    table_removed: bool

    def contains(self, ijk: NDArray[np.integer[Any]]) -> NDArray[np.bool_]:
        """Whether full-grid voxels lie inside the body.

        Parameters
        ----------
        ijk : (N, 3) ndarray of int
            Full-grid indices.

        Returns
        -------
        (N,) ndarray of bool
        """
        c = self.grid.to_coarse(ijk)
        return np.asarray(self.coarse[c[:, 0], c[:, 1], c[:, 2]], dtype=bool)

    def skin_distance_at(self, ijk: NDArray[np.integer[Any]]) -> NDArray[np.float32]:
        """Distance to the skin in mm at full-grid voxels.

        Parameters
        ----------
        ijk : (N, 3) ndarray of int

        Returns
        -------
        (N,) ndarray of float32
        """
        c = self.grid.to_coarse(ijk)
        return np.asarray(self.skin_distance_mm[c[:, 0], c[:, 1], c[:, 2]], dtype=np.float32)

    @property
    def volume_mm3(self) -> float:
        """Body volume in mm^3 (coarse resolution)."""
        sx, sy, sz = self.grid.spacing_mm
        return float(self.coarse.sum()) * sx * sy * sz


def disk_structure(radius_vox: tuple[float, float]) -> NDArray[np.bool_]:
    """An in-plane elliptical disk as a 3-D structuring element one slice thick.

    Parameters
    ----------
    radius_vox : tuple of float
        Radius along axes 0 and 1, in voxels.

    Returns
    -------
    (2 ri + 1, 2 rj + 1, 1) ndarray of bool
    """
    ri, rj = (max(int(np.floor(r)), 0) for r in radius_vox)
    ii, jj = np.mgrid[-ri : ri + 1, -rj : rj + 1]
    disk = (ii / max(radius_vox[0], 1e-6)) ** 2 + (jj / max(radius_vox[1], 1e-6)) ** 2 <= 1.0
    return np.asarray(disk[:, :, None], dtype=bool)


def compute_body(
    hu: NDArray[Any],
    spacing_mm: tuple[float, float, float],
    *,
    air_hu: float = -400.0,
    table_gap_mm: float = 6.0,
    min_part_fraction: float = 0.05,
    plate_mm: float = 25.0,
    target_mm: float = 4.0,
) -> BodyMask:
    """Find the body on a coarse grid.

    Parameters
    ----------
    hu : (I, J, K) ndarray
        CT in HU; axis 2 is the slice axis.
    spacing_mm : tuple of float
        Voxel size in mm.
    air_hu : float
        Voxels above this are tissue (HU).
    table_gap_mm : float
        Radius of the in-plane opening that cuts the body from the table (mm).
    min_part_fraction : float
        Separate parts smaller than this fraction of the largest are dropped.
    plate_mm : float
        Parts thinner than this across an in-plane axis (and wider than 100 mm
        along the other) are taken for a table.
    target_mm : float
        Coarse voxel size in mm.

    Returns
    -------
    BodyMask
    """
    grid = coarse_grid((hu.shape[0], hu.shape[1], hu.shape[2]), spacing_mm, target_mm=target_mm)
    sx, sy, sz = grid.spacing_mm
    tissue = grid.sample(hu) > air_hu
    if not tissue.any():
        empty = np.zeros(grid.shape, dtype=bool)
        return BodyMask(grid, empty, np.zeros(grid.shape, np.float32), 0, False)
    disk = disk_structure((table_gap_mm / sx, table_gap_mm / sy))
    opened = ndi.binary_opening(tissue, structure=disk) if disk.size > 1 else tissue
    if not opened.any():
        opened = tissue
    labels, n = cc3d.connected_components(opened, connectivity=6, return_N=True)
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    counts[0] = 0
    largest = int(counts.max())
    keep = np.zeros(n + 1, dtype=bool)
    boxes = ndi.find_objects(labels)
    table_removed = False
    for lab in range(1, n + 1):
        if counts[lab] == largest and not keep.any():
            keep[lab] = True
            continue
        if counts[lab] < min_part_fraction * largest:
            table_removed = table_removed or counts[lab] > 0
            continue
        box = boxes[lab - 1]
        assert box is not None
        ext_i = (box[0].stop - box[0].start) * sx
        ext_j = (box[1].stop - box[1].start) * sy
        if min(ext_i, ext_j) < plate_mm and max(ext_i, ext_j) > 100.0:
            table_removed = True
            continue
        keep[lab] = True
    kept = keep[labels]
    if disk.size > 1:
        kept = ndi.binary_dilation(kept, structure=disk) & tissue
    slice_struct = np.zeros((3, 3, 3), dtype=bool)
    slice_struct[:, :, 1] = ndi.generate_binary_structure(2, 1)
    body = ndi.binary_fill_holes(kept, structure=slice_struct)
    body = np.asarray(body, dtype=bool)
    skin = ndi.distance_transform_edt(body, sampling=(sx, sy, sz)).astype(np.float32)
    return BodyMask(
        grid=grid,
        coarse=body,
        skin_distance_mm=skin,
        n_parts=int(keep.sum()),
        table_removed=table_removed,
    )


def body_mask(
    hu: NDArray[Any],
    spacing_mm: tuple[float, float, float],
    **kwargs: float,
) -> NDArray[np.bool_]:
    """Full-resolution body mask (nearest-neighbour upsampling of the coarse body).

    Parameters
    ----------
    hu : (I, J, K) ndarray
        CT in HU.
    spacing_mm : tuple of float
        Voxel size in mm.
    **kwargs
        Passed to :func:`compute_body`.

    Returns
    -------
    (I, J, K) ndarray of bool
    """
    body = compute_body(hu, spacing_mm, **kwargs)
    return np.asarray(body.grid.upsample(body.coarse), dtype=bool)
