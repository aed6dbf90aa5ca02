"""Skeleton mask: cortex and marrow filled, so trabecular bone is never reported.

Method
------
The candidate mineral (HU >= threshold) is labelled once (26-connected, see
:mod:`calcdx.lesions.detect`). A candidate component is *skeleton* when its
dense part (HU >= ``cortical_hu``, default 400 HU, above calcific deposits'
usual 100-400 HU and below cortex's ~1000-1500 HU, [R5] of the research notes)
holds at least ``bone_min_volume_mm3`` (default 2000 mm^3) and it holds cortex, voxels
at or above ``seed_hu`` (default 900 HU).

Inside the bounding box of the skeleton components the bone mask is built from
their cortex, voxels >= ``seed_hu`` (default 900 HU): an in-plane 5 x 5 closing
seals thin cortex, then holes are filled per slice (axis 2) and in 3-D, which
fills marrow and trabecular bone.
Candidate voxels of a skeleton component outside that mask dilated by
``margin_vox`` voxels (the partial-volume rim) are *residual deposits*: a
deposit touching bone is thus found and kept apart from the bone. A deposit
as dense as cortex (>= ``seed_hu``) fused to it is taken as bone, and bone
whose cortex stays below ``seed_hu`` all round (very thin cortex, partial
volume) may leave its marrow unfilled; both are stated limits. Small bones
whose dense part is below ``bone_min_volume_mm3`` (sesamoids, distal
phalanges) are not recognised as skeleton and may be reported; lower the
parameter for hand and foot studies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cc3d
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi

__all__ = ["BoneResult", "classify_bone_components", "fill_holes_2d_3d"]

_SLICE_STRUCT = np.zeros((3, 3, 3), dtype=bool)
_SLICE_STRUCT[:, :, 1] = ndi.generate_binary_structure(2, 1)


def fill_holes_2d_3d(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Fill holes per slice (axis 2, 4-connected background) and then in 3-D.

    Parameters
    ----------
    mask : (I, J, K) ndarray of bool

    Returns
    -------
    (I, J, K) ndarray of bool
        `mask` with every background region not connected to the array border
        (within its slice, then in 3-D with 6-connectivity) set to True.
    """
    # Per slice: 4-connected background regions that do not touch the slice's edge.
    bg_labels, _ = ndi.label(~mask, structure=_SLICE_STRUCT)
    edge = np.unique(
        np.concatenate(
            [bg_labels[0].ravel(), bg_labels[-1].ravel(),
             bg_labels[:, 0].ravel(), bg_labels[:, -1].ravel()]
        )
    )
    filled: NDArray[np.bool_] = np.asarray(
        (~np.isin(bg_labels, edge[edge != 0]) & (bg_labels > 0)) | mask, dtype=bool
    )
    del bg_labels
    background = ~filled
    if not background.any():
        return filled
    labels = cc3d.connected_components(background, connectivity=6)
    border = np.unique(
        np.concatenate(
            [
                labels[0].ravel(), labels[-1].ravel(),
                labels[:, 0].ravel(), labels[:, -1].ravel(),
                labels[:, :, 0].ravel(), labels[:, :, -1].ravel(),
            ]
        )
    )
    outside = np.isin(labels, border[border != 0])
    return np.asarray(~outside, dtype=bool)


@dataclass(frozen=True)
class BoneResult:
    """The skeleton found among candidate components.

    Attributes
    ----------
    component_ids : tuple of int
        Candidate component labels classified as skeleton.
    offset : tuple of int
        Full-grid index of ``filled[0, 0, 0]``.
    filled : ndarray of bool
        Bone (cortex with marrow filled) inside the crop starting at `offset`.
    exclusion : ndarray of bool
        `filled` dilated by the partial-volume margin (same crop).
    bone_labels : ndarray of uint32
        Separate bones (6-connected components of `filled`), same crop.
    volume_mm3 : float
        Volume of `filled` in mm^3.
    """

    component_ids: tuple[int, ...]
    offset: tuple[int, int, int]
    filled: NDArray[np.bool_]
    exclusion: NDArray[np.bool_]
    bone_labels: NDArray[np.uint32]
    volume_mm3: float

    def _local(self, ijk: NDArray[np.integer[Any]]) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
        local = np.asarray(ijk, dtype=np.intp) - np.asarray(self.offset, dtype=np.intp)
        inside = np.all((local >= 0) & (local < np.asarray(self.filled.shape)), axis=1)
        return local, inside

    def _lookup(self, array: NDArray[Any], ijk: NDArray[np.integer[Any]]) -> NDArray[np.bool_]:
        out = np.zeros(len(ijk), dtype=bool)
        if array.size == 0 or len(ijk) == 0:
            return out
        local, inside = self._local(ijk)
        li = local[inside]
        out[inside] = array[li[:, 0], li[:, 1], li[:, 2]]
        return out

    def in_bone(self, ijk: NDArray[np.integer[Any]]) -> NDArray[np.bool_]:
        """Whether full-grid voxels lie in bone (cortex or marrow).

        Parameters
        ----------
        ijk : (N, 3) ndarray of int

        Returns
        -------
        (N,) ndarray of bool
        """
        return self._lookup(self.filled, ijk)

    def in_exclusion(self, ijk: NDArray[np.integer[Any]]) -> NDArray[np.bool_]:
        """Whether full-grid voxels lie in bone or its partial-volume rim.

        Parameters
        ----------
        ijk : (N, 3) ndarray of int

        Returns
        -------
        (N,) ndarray of bool
        """
        return self._lookup(self.exclusion, ijk)


def classify_bone_components(
    hu: NDArray[Any],
    labels: NDArray[np.integer[Any]],
    *,
    dense_volume_mm3: NDArray[np.float64],
    peak_hu: NDArray[np.float64],
    boxes: list[tuple[slice, slice, slice] | None],
    voxel_volume_mm3: float,
    cortical_hu: float = 400.0,
    bone_min_volume_mm3: float = 2000.0,
    bone_peak_hu: float = 700.0,
    seed_hu: float = 900.0,
    margin_vox: int = 1,
) -> BoneResult:
    """Pick skeleton components and build the filled bone mask around them.

    Parameters
    ----------
    hu : (I, J, K) ndarray
        CT in HU.
    labels : (I, J, K) ndarray of int
        Candidate components (0 = background).
    dense_volume_mm3 : (N + 1,) ndarray of float
        Per component, volume in mm^3 of its voxels at or above `cortical_hu`.
    peak_hu : (N + 1,) ndarray of float
        Per component, the maximum HU.
    boxes : list of (slice, slice, slice) or None
        Per component ``1..N``, its bounding box (as from ``find_objects``).
    voxel_volume_mm3 : float
        Volume of one voxel in mm^3.
    cortical_hu : float
        Density of cortex used to build the bone mask (HU).
    bone_min_volume_mm3 : float
        Minimum dense volume of a skeleton component (mm^3).
    bone_peak_hu : float
        Minimum peak density of a skeleton component (HU).
    seed_hu : float
        Cortex density (HU) from which the filled bone mask is built.
    margin_vox : int
        Partial-volume margin around bone, in voxels.

    Returns
    -------
    BoneResult
    """
    chosen = (dense_volume_mm3 >= bone_min_volume_mm3) & (peak_hu >= bone_peak_hu)
    ids = [int(c) for c in np.flatnonzero(chosen) if c > 0]
    empty_b = np.zeros((0, 0, 0), dtype=bool)
    if not ids:
        return BoneResult((), (0, 0, 0), empty_b, empty_b, np.zeros((0, 0, 0), np.uint32), 0.0)
    lo = np.array([hu.shape[0], hu.shape[1], hu.shape[2]])
    hi = np.zeros(3, dtype=int)
    for c in ids:
        box = boxes[c - 1]
        assert box is not None
        lo = np.minimum(lo, [s.start for s in box])
        hi = np.maximum(hi, [s.stop for s in box])
    lo = np.maximum(lo - 1, 0)
    hi = np.minimum(hi + 1, hu.shape)
    crop = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    lab_c = labels[crop]
    member = lab_c == ids[0] if len(ids) == 1 else np.isin(lab_c, ids)
    cortex = member & (hu[crop] >= seed_hu)
    del member
    # In-plane 5 x 5 closing (separable max/min filters) seals thin cortex.
    u8 = cortex.view(np.uint8)
    closed = ndi.minimum_filter(ndi.maximum_filter(u8, size=(5, 5, 1)), size=(5, 5, 1)) > 0
    closed |= cortex
    filled = fill_holes_2d_3d(closed)
    del closed, cortex
    if margin_vox > 0:
        size = 2 * margin_vox + 1
        exclusion = ndi.maximum_filter(filled.view(np.uint8), size=size) > 0
    else:
        exclusion = filled.copy()
    bone_labels = cc3d.connected_components(filled, connectivity=6).astype(np.uint32)
    return BoneResult(
        component_ids=tuple(ids),
        offset=(int(lo[0]), int(lo[1]), int(lo[2])),
        filled=filled,
        exclusion=np.asarray(exclusion, dtype=bool),
        bone_labels=bone_labels,
        volume_mm3=float(filled.sum()) * voxel_volume_mm3,
    )
