"""Skeleton mask: cortex and marrow filled, so trabecular bone is never reported.

Method
------
The candidate mineral (HU >= threshold) is labelled once (26-connected, see
:mod:`calcdx.lesions.detect`). A candidate component is *skeleton* when it holds
a cortical core (voxels at or above ``seed_hu``, default 900 HU) and enough
dense bone (HU >= ``cortical_hu``, 400 HU): at least ``bone_min_volume_mm3``
(2000 mm^3), or in a thin stack (a single slice or a few, under
``thin_stack_mm``) at least ``bone_min_area_mm2`` (100 mm^2) in its largest
slice, since volumes mean little there.

Inside the skeleton components' box the bone is built from a *core*:

1. cortex, voxels >= ``seed_hu``;
2. partial-volume cortex: voxels >= ``partial_hu`` (600 HU) in bands at least
   ``2 band_mm`` wide in-plane (an in-plane opening) that reach the cortex. The
   obliquely cut skull of a thick slice reads 600-900 HU over several mm; a
   deposit's thin dense rim is narrower and is not taken;
3. bone bodies: the component at or above ``body_hu`` (200 HU), holes filled per
   slice, opened like the bands, outside the closed cortex, whose largest slice
   holds ``body_area_mm2`` (150 mm^2): a vertebral body whose thin cortex never
   reaches 900 HU. A smaller region (a deposit on the bone) is not taken.

The core is closed in-plane (``close_mm``) and its holes are filled per slice
and in 3-D, up to ``max_hole_area_mm2`` / ``max_hole_volume_mm3`` so that the
cranial cavity or the pelvic ring is never filled: that is the bone. Its
outline (``hull``) is the core closed over ``hull_mm`` (5 mm) and hole-filled.
Candidate voxels of a skeleton component outside the bone dilated by
``margin_vox`` voxels form residual parts (26-connected); a part is bone when
most of it lies inside the outline, or when it is a partial-volume fringe (peak
below ``partial_hu`` and everywhere within ``bone_fringe_mm`` of bone); any other
part is a *deposit touching bone*, found and kept apart from it.

Stated limits: a deposit on bone as dense as partial-volume cortex and wider than
``2 band_mm`` in-plane, or a low-density one larger than ``body_area_mm2`` in a
slice, is taken as bone; in thin stacks small bones (ribs cut across) may not
reach ``bone_min_area_mm2`` and are then reported; lower the parameters for hand
and foot studies.
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


def fill_holes_2d_3d(
    mask: NDArray[np.bool_],
    *,
    max_hole_area_vox: int | None = None,
    max_hole_volume_vox: int | None = None,
    three_d: bool = True,
) -> NDArray[np.bool_]:
    """Fill holes per slice (axis 2, 4-connected background) and then in 3-D.

    Parameters
    ----------
    mask : (I, J, K) ndarray of bool
    max_hole_area_vox : int, optional
        Per-slice holes larger than this many voxels (in-plane area) stay open:
        the cranial cavity or the pelvic ring are enclosed by bone yet are not
        bone. None fills every hole.
    max_hole_volume_vox : int, optional
        The same limit, in voxels, for holes closed only in 3-D.
    three_d : bool
        Also fill holes closed only in 3-D (False: per slice only).

    Returns
    -------
    (I, J, K) ndarray of bool
        `mask` with every background region not connected to the array border
        (within its slice, then in 3-D with 6-connectivity), and not larger than
        the limits, set to True.
    """
    # Per slice: 4-connected background regions that do not touch the slice's edge.
    bg_labels, n_bg = ndi.label(~mask, structure=_SLICE_STRUCT)
    edge = np.unique(
        np.concatenate(
            [bg_labels[0].ravel(), bg_labels[-1].ravel(),
             bg_labels[:, 0].ravel(), bg_labels[:, -1].ravel()]
        )
    )
    hole = np.ones(n_bg + 1, dtype=bool)
    hole[0] = False
    hole[edge] = False
    if max_hole_area_vox is not None:
        hole &= np.bincount(bg_labels.ravel(), minlength=n_bg + 1) <= max_hole_area_vox
    filled: NDArray[np.bool_] = np.asarray(hole[bg_labels] | mask, dtype=bool)
    del bg_labels
    background = ~filled
    if not three_d or not background.any():
        return filled
    labels, n = cc3d.connected_components(background, connectivity=6, return_N=True)
    border = np.unique(
        np.concatenate(
            [
                labels[0].ravel(), labels[-1].ravel(),
                labels[:, 0].ravel(), labels[:, -1].ravel(),
                labels[:, :, 0].ravel(), labels[:, :, -1].ravel(),
            ]
        )
    )
    hole3 = np.ones(n + 1, dtype=bool)
    hole3[0] = False
    hole3[border] = False
    if max_hole_volume_vox is not None:
        hole3 &= np.bincount(labels.ravel(), minlength=n + 1) <= max_hole_volume_vox
    return np.asarray(filled | hole3[labels], dtype=bool)


def _disk_filter(mask: NDArray[np.bool_], radius_vox: tuple[int, int], op: str
                 ) -> NDArray[np.bool_]:
    """In-plane dilation (``op="max"``) or erosion (``"min"``) by a square of the given radii."""
    size = (2 * radius_vox[0] + 1, 2 * radius_vox[1] + 1, 1)
    if size == (1, 1, 1):
        return mask
    u8 = mask.view(np.uint8)
    out = ndi.maximum_filter(u8, size=size) if op == "max" else ndi.minimum_filter(u8, size=size)
    return np.asarray(out > 0, dtype=bool)


def _closing(mask: NDArray[np.bool_], radius_vox: tuple[int, int]) -> NDArray[np.bool_]:
    """In-plane closing (the array edge is reflected)."""
    return _disk_filter(_disk_filter(mask, radius_vox, "max"), radius_vox, "min") | mask


def _opening(mask: NDArray[np.bool_], radius_vox: tuple[int, int]) -> NDArray[np.bool_]:
    """In-plane opening: keeps parts at least ``2 r + 1`` voxels wide in both directions."""
    return _disk_filter(_disk_filter(mask, radius_vox, "min"), radius_vox, "max") & mask


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
    hull : ndarray of bool
        The bones' outline: the cortical core closed in-plane over
        ``hull_mm`` and hole-filled (same crop). Residual mineral mostly inside
        it is bone (trabecular bone behind a gap in the cortex); a deposit on
        the bone lies mostly outside it.
    """

    component_ids: tuple[int, ...]
    offset: tuple[int, int, int]
    filled: NDArray[np.bool_]
    exclusion: NDArray[np.bool_]
    bone_labels: NDArray[np.uint32]
    volume_mm3: float
    hull: NDArray[np.bool_]

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

    def in_hull(self, ijk: NDArray[np.integer[Any]]) -> NDArray[np.bool_]:
        """Whether full-grid voxels lie inside the bones' outline (see `hull`).

        Parameters
        ----------
        ijk : (N, 3) ndarray of int

        Returns
        -------
        (N,) ndarray of bool
        """
        return self._lookup(self.hull, ijk)

    def with_bone(self, ijk: NDArray[np.integer[Any]], voxel_volume_mm3: float) -> BoneResult:
        """A copy with more full-grid voxels marked as bone (and in the exclusion).

        Parameters
        ----------
        ijk : (N, 3) ndarray of int
            Voxels taken for bone (inside the crop).
        voxel_volume_mm3 : float
            Volume of one voxel.

        Returns
        -------
        BoneResult
        """
        if len(ijk) == 0 or self.filled.size == 0:
            return self
        local, inside = self._local(ijk)
        li = local[inside]
        filled = self.filled.copy()
        exclusion = self.exclusion.copy()
        filled[li[:, 0], li[:, 1], li[:, 2]] = True
        exclusion[li[:, 0], li[:, 1], li[:, 2]] = True
        bone_labels = cc3d.connected_components(filled, connectivity=6).astype(np.uint32)
        return BoneResult(
            component_ids=self.component_ids, offset=self.offset, filled=filled,
            exclusion=exclusion, bone_labels=bone_labels,
            volume_mm3=float(np.count_nonzero(filled)) * voxel_volume_mm3, hull=self.hull,
        )

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
    chosen: NDArray[np.bool_],
    boxes: list[tuple[slice, slice, slice] | None],
    spacing_mm: tuple[float, float, float],
    seed_hu: float = 900.0,
    partial_hu: float = 600.0,
    band_mm: float = 1.5,
    close_mm: float = 1.5,
    hull_mm: float = 5.0,
    body_hu: float = 200.0,
    body_area_mm2: float = 150.0,
    max_hole_area_mm2: float = 3000.0,
    max_hole_volume_mm3: float = 60000.0,
    margin_vox: int = 1,
) -> BoneResult:
    """Build the filled bone mask around the skeleton components.

    Parameters
    ----------
    hu : (I, J, K) ndarray
        CT in HU.
    labels : (I, J, K) ndarray of int
        Candidate components (0 = background).
    chosen : (N + 1,) ndarray of bool
        Which components are skeleton (see :mod:`calcdx.lesions.detect`).
    boxes : list of (slice, slice, slice) or None
        Per component ``1..N``, its bounding box (needed for the chosen ones).
    spacing_mm : tuple of float
        Voxel size in mm.
    seed_hu : float
        Cortex density (HU): every voxel at or above it in a skeleton component
        is cortical core.
    partial_hu : float
        Partial-volume cortex density (HU): voxels at or above it in a band at
        least ``2 band_mm`` thick in-plane, joined to the cortex, are cortical core
        too (obliquely cut cortex of a thick slice reads 600-900 HU). A deposit's
        thin dense rim does not qualify.
    band_mm : float
        Half-width (mm) of the in-plane opening that tests the band's thickness.
    close_mm : float
        Radius (mm) of the in-plane closing that seals the cortex before filling.
    hull_mm : float
        Radius (mm) of the in-plane closing that gives the bones' outline.
    body_hu : float
        Bone density (HU) of trabecular bone and thin, low-density cortex.
    body_area_mm2 : float
        A region of a skeleton component at or above `body_hu`, thicker than
        ``2 band_mm`` in-plane and outside the cortex-built bone, is bone too
        when its largest in-plane area reaches this (mm^2): a vertebral body
        whose cortex never reaches `seed_hu`. A smaller one (a deposit on the
        bone) is not.
    max_hole_area_mm2 : float
        Largest in-plane hole filled as marrow (mm^2); the cranial cavity and the
        pelvic ring are larger and stay open.
    max_hole_volume_mm3 : float
        Largest hole closed only in 3-D that is filled (mm^3).
    margin_vox : int
        Partial-volume margin around bone, in voxels.

    Returns
    -------
    BoneResult
    """
    ids = [int(c) for c in np.flatnonzero(chosen) if c > 0]
    empty_b = np.zeros((0, 0, 0), dtype=bool)
    if not ids:
        return BoneResult(
            (), (0, 0, 0), empty_b, empty_b, np.zeros((0, 0, 0), np.uint32), 0.0, empty_b
        )
    sx, sy, sz = spacing_mm
    lo = np.array([hu.shape[0], hu.shape[1], hu.shape[2]])
    hi = np.zeros(3, dtype=int)
    for c in ids:
        box = boxes[c - 1]
        assert box is not None
        lo = np.minimum(lo, [s.start for s in box])
        hi = np.maximum(hi, [s.stop for s in box])
    pad = np.array([int(np.ceil(hull_mm / sx)) + 1, int(np.ceil(hull_mm / sy)) + 1, 1])
    lo = np.maximum(lo - pad, 0)
    hi = np.minimum(hi + pad, hu.shape)
    crop = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    lab_c = labels[crop]
    member = lab_c == ids[0] if len(ids) == 1 else np.isin(lab_c, ids)
    hu_c = hu[crop]
    seeds = member & (hu_c >= seed_hu)
    max_area = int(max_hole_area_mm2 / (sx * sy))
    max_volume = int(max_hole_volume_mm3 / (sx * sy * sz))
    close_r = _radius(close_mm, sx, sy)
    band_r = _radius(band_mm, sx, sy)
    # One grey-level opening opens both nested sets (level 1: bone density with
    # holes filled, level 2: partial-volume cortex), as flat openings commute
    # with thresholds.
    levels = fill_holes_2d_3d(
        member & (hu_c >= body_hu), max_hole_area_vox=max_area, three_d=False
    ).view(np.uint8) + (member & (hu_c >= partial_hu)).view(np.uint8)
    del member, hu_c
    footprint = (2 * band_r[0] + 1, 2 * band_r[1] + 1, 1)
    opened = ndi.maximum_filter(ndi.minimum_filter(levels, size=footprint), size=footprint)
    del levels
    band = opened >= 2
    core = seeds | band
    if band.any():
        # Keep the bands that reach true cortex (hysteresis).
        core_lab, n_core = cc3d.connected_components(core, connectivity=26, return_N=True)
        has_seed = np.zeros(n_core + 1, dtype=bool)
        has_seed[np.unique(core_lab[seeds])] = True
        has_seed[0] = False
        core = has_seed[core_lab]
        del core_lab
    del band, seeds
    closed = _closing(core, close_r)
    # Marrow inside the cortex joins the body parts; it is bone either way.
    body = (opened >= 1) & ~closed
    del opened
    if body.any():
        body_lab, n_body = cc3d.connected_components(body, connectivity=26, return_N=True)
        kk = np.broadcast_to(np.arange(body.shape[2]), body.shape)[body]
        per_slice = np.bincount(body_lab[body].astype(np.int64) * body.shape[2] + kk,
                                minlength=(n_body + 1) * body.shape[2])
        area = per_slice.reshape(n_body + 1, body.shape[2]).max(axis=1) * (sx * sy)
        big = area >= body_area_mm2
        big[0] = False
        added = big[body_lab]
        core |= added
        closed |= added  # a body part touches the closed core where it was cut off
        del body_lab, added
    del body
    filled = fill_holes_2d_3d(
        closed,
        max_hole_area_vox=max_area, max_hole_volume_vox=max_volume,
    )
    hull = fill_holes_2d_3d(
        _closing(core, _radius(hull_mm, sx, sy)), max_hole_area_vox=max_area, three_d=False
    )
    del core
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
        volume_mm3=float(np.count_nonzero(filled)) * sx * sy * sz,
        hull=hull,
    )


def _radius(mm: float, sx: float, sy: float) -> tuple[int, int]:
    """In-plane radius in whole voxels (at least 1) for a length in mm."""
    return max(1, round(mm / sx)), max(1, round(mm / sy))
