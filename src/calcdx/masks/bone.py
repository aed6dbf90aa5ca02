"""Skeleton mask: the mineral of large components, cortex sealed and marrow filled.

:func:`bone_mask` is a stage function in the scikit-image manner: an HU array and
its voxel size in, a typed :class:`BoneResult` out, every threshold in a small
validated :class:`BoneConfig` whose fields state their basis. It uses no
absolute cortical seed: at 3 mm voxels a vertebra's thin cortex rarely reaches
900 HU and its marrow often stays under 130 HU, so the skeleton is what is
*large* at the mineral threshold, then sealed and filled.

Method
------
1. Mineral: HU >= ``mineral_hu`` (130 HU), inside `body` when given, outside
   `exclude` (e.g. enhancing lumens) when given.
2. Skeleton components: 26-connected mineral components (``cc3d``) holding at
   least ``min_volume_mm3`` of mineral and shaped or placed as bone (reaching the
   grid's edge, a major axis of ``bone_min_length_mm``, or within ``joint_gap_mm``
   of such a component, repeatedly: :func:`_bone_like`), so a large compact
   deposit standing apart stays a lesion; a compact component (major axis under
   ``bone_min_length_mm``) reaches the skeleton across a gap, or anchors it at
   the grid's edge, only when it is built as bone: a cortex shell (its outer
   ``shell_voxels``) denser than its inside by ``dense_tail_hu``, or too thin to
   have an inside (a solid mass cut by the field of view through its inside
   stays an anchor, unless the study is not known to be native and its median
   lies in ``iodine_hu``: an enhanced vessel or organ running out of view, with
   its wall calcification), so a solid deposit lying near bone stays a lesion,
   except smooth regions in the iodine range (enhanced lumens and organs):
   median in ``iodine_hu``, robust SD at most ``smooth_max_sd_hu`` and no dense
   tail (99th percentile under median + ``dense_tail_hu``) that are thick
   (in-plane radius of ``lumen_min_radius_mm``, wider than a rib), unless the
   study is known to be native.
2b. Enhanced lumens touching bone (in-plane voxels up to ``lumen_max_voxel_mm``;
   skipped when the study is known to be native):
   smooth iodine-range regions inside the chosen components, cut at necks, not
   enclosed in-plane by the rest of the bone, thick and of at least
   ``lumen_min_volume_mm3`` (:func:`_lumens`), leave the mineral with their
   partial-volume wall before sealing and stay out of the filled bone, so an
   aorta lying on the spine can neither bridge to it nor be filled as marrow.
   The lumen continuous with the blood pool (`blood_lumen`, found beforehand by
   :func:`calcdx.masks.lumen.blood_pool_lumen`) leaves the mineral the same way, on
   any grid. A component left with less than ``min_volume_mm3`` of mineral is no
   longer skeleton, nor is a piece of one that the lumen cut off with less than
   that (:func:`_cut_off`: joined to bone only through the lumen): its mineral is a
   deposit when it peaks ``dense_tail_hu`` above the carved lumen's median (wall
   plaque on the lumen's far side, a calcified branch), else it is the lumen's own
   (an enhanced branch) and leaves the mineral with it.
3. Sealing and filling: an in-plane closing of ``close_mm`` bridges cortex that
   partial volume brings under 130 HU; holes are then filled slice by slice in
   the axial, coronal and sagittal planes (a marrow cavity open in one plane is
   closed in another), up to ``max_hole_area_mm2`` per plane, and in 3-D up to
   ``max_hole_volume_mm3``: marrow is filled, the cranial cavity, the thorax and
   the pelvic ring are not. An axial hole continuous across the slices (through
   holes enclosed in their slices) with a hole too large to fill is part of that
   cavity and is filled in no plane (:func:`_cavities`): the temporal lobe in the
   middle cranial fossa, the cerebellum in the posterior fossa and the brain
   beside the convexity, whose sections are small, are not marrow.
3b. Cortex-less parts (calcified costal cartilage on its rib end,
   :func:`_cortexless`): where the in-plane voxels resolve cortex (up to
   ``lumen_max_voxel_mm``), a part of the filled bone farther than
   ``cortex_reach_mm`` from any voxel of ``mineral_hu + dense_tail_hu``, of at
   least ``min_volume_mm3`` and bordered in-plane mostly by soft tissue, has no
   cortex: a faint mineralised rod joined to bone. It leaves the bone; its
   mineral is a deposit, returned also in :attr:`BoneResult.cartilage` so the
   analysis can say where it lies (:mod:`calcdx.measure.costal`). Where the
   caller says where costal cartilage may lie (`cartilage_site`, the trunk's
   anterior outer shell), parts built as calcified cartilage leave with them,
   granules as dense as cortex included (:func:`calcdx.masks.ribcart.granular_parts`:
   under ``min_cortex_share`` cortex-dense voxels within ``cartilage_window_mm``).
4. Deposits on bone: the *core* is the filled bone opened in-plane by a square
   of half-width ``core_mm``; bone is the core grown back by one voxel inside the
   filled mask, plus every remaining part of at least ``min_volume_mm3`` (a thin
   plate of bone, a rib) or longer than ``deposit_max_mm`` in-plane or along
   the slices (an arch, a facet or a rib edge cut off the core over many
   slices), or reaching the edge of the grid (cut by the field of view), or
   lying mostly right above or below bone (the bone's surface cut across the
   slices), or seen on one slice only where slices are spaced more than
   ``core_mm`` (the bone's surface cut within that thick slab: the inner
   table in a 5 mm head series), or mostly inside the bones' outline (core and those parts closed
   in-plane by a disk of ``2 core_mm``: the steps of the core along an oblique
   cortex), or bordering air (HU <= ``air_hu``: the walls and septa of
   pneumatised bone). A remaining part that is none of these (a deposit lying
   on the cortex and less than ``2 core_mm`` wide) is kept apart: its mineral
   voxels are returned in :attr:`BoneResult.deposits`, never taken for bone.
   This needs a core of at least two voxels' half-width: on coarser grids
   (in-plane voxels over ``core_mm / 2``, e.g. 3 mm) every part is bone.
4b. Deposits on bone wider than the core (:func:`_proud_deposits`): each bone
   is opened in-plane by a disk of radius ``deposit_max_mm / 2`` (its
   *envelope*: a bone's surface is smooth and convex at that scale); a part
   outside it that the core kept, with an inside, compact in-plane (at most
   ``deposit_max_mm`` on every slice), not the bone's surface cut across the
   slices, bordering no air, standing at least ``2 core_mm`` proud of the
   envelope, and whose inside is not continuous with the
   bone's medulla through bone less dense than its cortex (corticomedullary
   continuity marks a process, a tuberosity or an osteophyte; a deposit lies
   on the cortex, which runs on beneath it), is kept apart as a deposit with
   its base, on any length along the slices and at any size (on the grids
   where step 4 judges deposits). The part is taken on its slices where it
   reaches past ``core_mm`` and those within ``2 core_mm`` of them (not the
   staircase strip of a coarse grid's outline that may join it along the whole
   bone), and its base is face-connected to it (a one-voxel cortex is joined
   only through edges and corners, so the marrow beyond it stays bone).

Every size is in mm or mm^3 and turned into voxels for the grid at hand, so
the rules hold from 0.5 to 3 mm voxels.

Stated limits: a soft-tissue deposit larger than ``min_volume_mm3`` is taken
as bone when its major axis reaches ``bone_min_length_mm``, when the edge of
the grid cuts through its inside, or when it reaches that edge or lies within
``joint_gap_mm`` of bone and has a cortex denser than its inside (a zonal,
rim-dense deposit such as mature myositis ossificans) or no inside at the
grid's voxels (an enhanced vessel under three voxels across, with its wall
calcification, cut by the field of view); a compact bone with no cortex denser
than its inside and as dense as enhanced blood, cut by the field of view and
standing apart, is taken as a deposit unless the study is known to be native; a compact
bone standing more than that apart from the rest (a displaced fragment, an
accessory ossicle) is taken as a deposit; an enhancing
lumen that touches bone joins it unless passed in `exclude` on grids coarser
than ``lumen_max_voxel_mm``, and also on finer grids when its edge voxels
reach the mineral threshold (a dense arterial lumen: sealed, that edge encloses
it like cortex); calcified costal cartilage joins the ribs on grids coarser than
``lumen_max_voxel_mm``, and on finer ones where it lies within ``cortex_reach_mm``
of cortex-dense voxels and either within ``cartilage_window_mm`` of the rib's end
(the window then holds the rib's cortex), outside the given cartilage site, or
densely ossified (step 3b); a deposit on
bone is taken as bone when it is narrower than ``2 core_mm`` and longer than
``deposit_max_mm`` along the slices or cut by the edge of the grid (step 4),
when it is wider than that and spans more than ``deposit_max_mm`` in-plane on
some slice, stands less than ``2 core_mm`` proud of the bone's envelope (a
flat plaque on the cortex) or lies within it, when the bone's cortex at the
grid's voxels is no denser than the deposit's inside by ``dense_tail_hu`` (a
thin vertebral cortex: no wall is seen between deposit and marrow), and when
it borders air (a pleural plaque on a rib) or sits on a bone's upper or lower
face less than about two slices high, or, on slices spaced more than
``core_mm``, is seen on one slice only; an ossicle or sesamoid joined to its
bone by partial volume, its marrow sealed by its own cortex, is kept apart as
a deposit (as a small ossicle standing apart is, step 2); a thin bony process
standing off the core in soft tissue (a styloid process, a zygomatic arch cut
across) is kept apart as a deposit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

import cc3d
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from calcdx._threads import map_split, run_both, submit
from calcdx.errors import InputError
from calcdx.masks._filters import ball_dilation, ball_erosion, box_filter, disk_dilation
from calcdx.masks.lumen import LumenMask
from calcdx.masks.ribcart import CartilageSite, granular_parts

__all__ = ["BoneConfig", "BoneResult", "bone_mask", "fill_holes_2d_3d", "fill_holes_planes"]

#: Arrays up to this many voxels have their in-plane holes labelled in one call.
_ONE_CALL_MAX_VOXELS = 1 << 20

_SLICE_STRUCT8 = np.zeros((3, 3, 3), dtype=bool)
_SLICE_STRUCT8[:, :, 1] = True


def fill_holes_2d_3d(
    mask: NDArray[np.bool_],
    *,
    max_hole_area_vox: int | None = None,
    max_hole_volume_vox: int | None = None,
    three_d: bool = True,
    two_d: bool = True,
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
    two_d : bool
        Fill per slice first (False: in 3-D only).

    Returns
    -------
    (I, J, K) ndarray of bool
        `mask` with every background region not connected to the array border
        (within its slice, then in 3-D with 6-connectivity), and not larger than
        the limits, set to True.
    """
    if not two_d:
        return _fill_3d(mask, max_hole_volume_vox)
    filled = _fill_plane_holes(mask, 2, max_hole_area_vox)
    if not three_d:
        return filled
    return _fill_3d(filled, max_hole_volume_vox)


def _plane_holes(
    mask: NDArray[np.bool_], axis: int, ks: range | None = None
) -> Iterator[tuple[int, tuple[slice, slice], NDArray[np.unsignedinteger[Any]],
                    NDArray[np.bool_], NDArray[np.intp]]]:
    """Yield the background regions of each plane normal to `axis` that holds mask voxels.

    For each such plane (a plane without any has no hole) among `ks` (None: all):
    its index, the box of its mask voxels in the plane, the 4-connected background
    regions in that box (cc3d labels), which of them do not reach the box's edge,
    and their sizes in voxels. Every hole of the plane lies in the box, as in the
    plane: the plane outside the box is background joined to the plane's edge, so a
    region reaching the box's edge reaches the plane's.
    """
    # planes normal to the last axis are contiguous in Fortran order
    planes = np.moveaxis(np.asarray(mask, order="F" if axis == mask.ndim - 1 else "C"), axis, 0)
    for k in range(planes.shape[0]) if ks is None else ks:
        plane = planes[k]
        rows = np.flatnonzero(plane.any(axis=1))
        if not len(rows):
            continue
        cols = np.flatnonzero(plane[rows[0]:rows[-1] + 1].any(axis=0))
        box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
        labels, n = cc3d.connected_components(~plane[box], connectivity=4, return_N=True)
        inner = np.ones(n + 1, dtype=bool)
        inner[0] = False
        for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
            inner[edge] = False
        # sizes in memory order: planes normal to the last axis are Fortran-ordered
        yield k, box, labels, inner, np.bincount(labels.ravel(order="K"), minlength=n + 1)


def _fill_plane_holes(
    mask: NDArray[np.bool_], axis: int, max_hole_area_vox: int | None,
    too_big: NDArray[np.bool_] | None = None,
) -> NDArray[np.bool_]:
    """Fill, per plane normal to `axis`, the background regions enclosed in the plane.

    Enclosed: 4-connected, not reaching the plane's edge, of at most
    `max_hole_area_vox` voxels (None: any size). A small array (a lesion's crop) is
    labelled in one scipy call with an in-plane cross; a large one plane by plane with
    cc3d (faster there): the same holes. `too_big`, when given (bool, the shape of
    `mask`), is set at the enclosed regions left open for their size.
    """
    if mask.size <= _ONE_CALL_MAX_VOXELS:
        structure = np.zeros((3, 3, 3), dtype=bool)
        structure[tuple(slice(None) if a != axis else 1 for a in range(3))] = (
            ndi.generate_binary_structure(2, 1))
        labels, n = ndi.label(~mask, structure=structure)
        hole = np.ones(n + 1, dtype=bool)
        hole[0] = False
        for a in range(3):
            if a != axis:
                hole[labels.take(0, axis=a)] = False
                hole[labels.take(-1, axis=a)] = False
        if max_hole_area_vox is not None:
            small = np.bincount(labels.ravel(), minlength=n + 1) <= max_hole_area_vox
            if too_big is not None and np.any(hole & ~small):
                too_big |= (hole & ~small)[labels]
            hole &= small
        return np.asarray(hole[labels] | mask, dtype=bool)
    out = np.array(mask, order="C")
    planes_out = np.moveaxis(out, axis, 0)
    big_out = None if too_big is None else np.moveaxis(too_big, axis, 0)
    mask = np.asarray(mask, order="F" if axis == mask.ndim - 1 else "C")  # once, not per half

    def fill(ks: range) -> None:
        for k, box, labels, hole, count in _plane_holes(mask, axis, ks):
            if max_hole_area_vox is not None:
                if big_out is not None and np.any(hole & (count > max_hole_area_vox)):
                    big_out[k][box] |= (hole & (count > max_hole_area_vox))[labels]
                hole &= count <= max_hole_area_vox
            if not hole.any():
                continue
            if axis == mask.ndim - 1:
                # slices of a C-ordered array are strided: only the hole voxels are written
                rows, cols = np.nonzero(hole[labels])
                planes_out[k][rows + box[0].start, cols + box[1].start] = True
            else:
                planes_out[k][box] |= hole[labels]

    _in_two(fill, mask.shape[axis])
    return out


def _in_two(step: Any, n: int) -> None:
    """``step(range(0, n))`` as two halves at once (:mod:`calcdx._threads`).

    For per-plane steps that write only their own planes: the same result.
    """
    half = n // 2
    run_both(lambda: step(range(0, half)), lambda: step(range(half, n)))


def _fill_3d(filled: NDArray[np.bool_], max_hole_volume_vox: int | None) -> NDArray[np.bool_]:
    """Fill 6-connected background regions that do not reach the array border."""
    background = ~filled
    if not background.any():
        return filled
    labels, n = cc3d.connected_components(background, connectivity=6, return_N=True)
    hole3 = np.ones(n + 1, dtype=bool)
    hole3[0] = False
    for face in (labels[0], labels[-1], labels[:, 0], labels[:, -1], labels[:, :, 0],
                 labels[:, :, -1]):
        hole3[face] = False  # regions reaching the border (no sort of their labels needed)
    if not hole3.any():
        return np.array(filled, dtype=bool)
    enclosed = hole3[labels]
    out = np.asarray(filled | enclosed, dtype=bool)
    if max_hole_volume_vox is not None:
        # sizes counted over the enclosed voxels only (not the whole background), read
        # and written at those voxels (flat, C order)
        at = np.flatnonzero(enclosed)
        lab = labels.ravel()[at]
        small = np.bincount(lab, minlength=n + 1) <= max_hole_volume_vox
        np.put(out, at, small[lab])
    return out


def _enclosed_parts(solid: NDArray[np.bool_], candidates: NDArray[np.bool_], axis: int
                    ) -> tuple[tuple[slice, ...], NDArray[Any], NDArray[np.bool_],
                               NDArray[np.bool_]]:
    """6-connected parts of background regions enclosed in the planes normal to `axis`.

    `candidates` are background voxels (outside `solid`) in regions enclosed in
    those planes (4-connected, not reaching the plane's edge): in its plane a
    candidate meets only `solid` or candidates, so the 6-connected background
    region it lies in holds a voxel of a region reaching a plane's edge (an array
    face other than the two normal to `axis`) exactly when a part of candidates
    meets, along `axis`, background that is no candidate. Labelled on the
    candidates' bounding box, not the whole background.

    Returns
    -------
    box : tuple of slice
        The candidates' bounding box.
    labels : ndarray
        The parts (cc3d, 6-connected) on `box`.
    leaks : (n + 1,) ndarray of bool
        Per part: it meets such background along `axis`.
    at_face : (n + 1,) ndarray of bool
        Per part: it reaches an array face normal to `axis`.
    """
    box = tuple(slice(int(a.min()), int(a.max()) + 1) for a in np.nonzero(candidates))
    cand = candidates[box]
    labels, n = cc3d.connected_components(cand, connectivity=6, return_N=True)
    leaks = np.zeros(n + 1, dtype=bool)
    at_face = np.zeros(n + 1, dtype=bool)
    size = candidates.shape[axis]
    start, stop = box[axis].start, box[axis].stop
    lab_ax = np.moveaxis(labels, axis, 0)
    if start == 0:
        at_face[lab_ax[0]] = True
    if stop == size:
        at_face[lab_ax[-1]] = True
    # read on the box grown by one plane along `axis`
    a0, a1 = max(start - 1, 0), min(stop + 1, size)
    grown = tuple(slice(a0, a1) if a == axis else b for a, b in enumerate(box))
    leak_ax = np.moveaxis(~solid[grown] & ~candidates[grown], axis, 0)
    cand_ax = np.moveaxis(cand, axis, 0)
    for d in (-1, 1):
        lo, hi = max(start, -d), min(stop, size - d)  # planes p whose p + d is inside
        if lo < hi:
            sel = slice(lo - start, hi - start)
            leaks[lab_ax[sel][cand_ax[sel] & leak_ax[lo + d - a0:hi + d - a0]]] = True
    leaks[0] = at_face[0] = False
    return box, labels, leaks, at_face


def _fill_3d_within(filled: NDArray[np.bool_], candidates: NDArray[np.bool_], axis: int,
                    max_hole_volume_vox: int | None) -> NDArray[np.bool_]:
    """:func:`_fill_3d` of `filled` whose planes normal to `axis` hold no hole but `candidates`.

    `candidates` are the background regions enclosed in those planes that a plane
    fill left open (``too_big`` of :func:`_fill_plane_holes` as the last pass).
    Each 3-D hole (a 6-connected background region not reaching the array's
    border) lies in them: its part in a plane is a region enclosed there (in-plane
    connected background within the hole, off the border, so off the plane's edge),
    and not filled. So the holes are the parts of :func:`_enclosed_parts` that
    neither leak nor reach a face normal to `axis`: the same voxels.
    """
    if not candidates.any():
        return np.array(filled, dtype=bool)
    box, labels, leaks, at_face = _enclosed_parts(filled, candidates, axis)
    hole = ~leaks & ~at_face
    hole[0] = False
    if max_hole_volume_vox is not None:
        hole &= np.bincount(labels.ravel(), minlength=len(hole)) <= max_hole_volume_vox
    out = np.array(filled, dtype=bool)
    if hole.any():
        out[box] |= hole[labels]
    return out


def fill_holes_planes(
    mask: NDArray[np.bool_],
    spacing_mm: tuple[float, float, float],
    *,
    max_hole_area_mm2: float,
    axes: tuple[int, ...] = (2, 0, 1),
    too_big: NDArray[np.bool_] | None = None,
) -> NDArray[np.bool_]:
    """Fill holes slice by slice in several planes, each hole up to an area.

    Parameters
    ----------
    mask : (I, J, K) ndarray of bool
    spacing_mm : tuple of float
        Voxel size (mm) along I, J, K.
    max_hole_area_mm2 : float
        Largest hole filled, as its area in the plane that encloses it (mm^2).
    axes : tuple of int
        Normal axis of each family of planes, in order (2: axial slices of a
        stack whose axis 2 is the slice axis).
    too_big : (I, J, K) ndarray of bool, optional
        When given, set at the holes of the last family of planes left open as
        larger than `max_hole_area_mm2` (where every hole closed only in 3-D lies,
        :func:`_fill_3d_within`).

    Returns
    -------
    (I, J, K) ndarray of bool
        `mask` with every in-plane hole up to `max_hole_area_mm2` set.
    """
    out = mask
    for n, axis in enumerate(axes):
        in_plane = [s for i, s in enumerate(spacing_mm) if i != axis]
        area_vox = int(max_hole_area_mm2 / (in_plane[0] * in_plane[1]))
        out = _fill_plane_holes(out, axis, area_vox,
                                too_big=too_big if n == len(axes) - 1 else None)
    return out


class BoneConfig(BaseModel):
    """Thresholds and sizes of :func:`bone_mask` (HU, mm, mm^2, mm^3), each with its basis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mineral_hu: float = Field(
        130.0,
        description="mineral threshold, inclusive. Published: the calcium threshold of "
        "Agatston et al., J Am Coll Cardiol 1990;15:827-832, also the usual CT bone threshold",
    )
    min_volume_mm3: float = Field(
        1000.0, gt=0,
        description="least mineral of a skeleton component, and least size of a thin bone "
        "part kept as bone. Heuristic: a rib's mineral cross-section is about 50 mm^2 "
        "(about 12 x 6 mm, half of it over 130 HU at 3 mm voxels), so 20 mm of rib holds "
        "about 1000 mm^3; focal soft-tissue deposits are far smaller",
    )
    close_mm: float = Field(
        3.0, ge=0,
        description="in-plane closing radius that seals the cortex before filling. "
        "Heuristic: vertebral cortex is well under 1 mm thick, so at 3 mm voxels it falls "
        "under 130 HU over gaps of about one voxel",
    )
    max_hole_area_mm2: float = Field(
        3000.0, gt=0,
        description="largest in-plane hole filled as marrow. Heuristic from adult anatomy: "
        "a lumbar vertebral body or a femoral head (about 50 mm across) spans under "
        "2000 mm^2; the cranial cavity, thorax and pelvic ring span far more and stay open",
    )
    max_hole_volume_mm3: float = Field(
        60000.0, gt=0,
        description="largest hole closed only in 3-D that is filled. Heuristic: a femoral "
        "head (about 65 cm^3) is the largest marrow cavity; the cranial cavity (over "
        "1000 cm^3) stays open",
    )
    water_hole_hu: tuple[float, float] = Field(
        (-30.0, 50.0),
        description="mean HU range of an in-plane hole that is not marrow: water and soft "
        "tissue (CSF 0-15 HU, spinal cord 30-40 HU, muscle 40-60 HU). Heuristic from "
        "anatomy: fatty marrow lies under it (fat is about -100 HU), and adult cancellous "
        "bone over it even when osteoporotic (L1 trabecular attenuation under 110 HU flags "
        "osteoporosis: Pickhardt et al., Ann Intern Med 2013;158:588-595)",
    )
    water_hole_max_area_mm2: float = Field(
        500.0, gt=0,
        description="largest in-plane hole of water density left open, in mm^2. Heuristic "
        "from adult anatomy: the bony spinal canal spans about 150-350 mm^2 in the axial "
        "plane, a vertebral body 600-1500 mm^2, so a very osteoporotic body whose marrow "
        "falls to water density is still filled",
    )
    bone_min_length_mm: float = Field(
        50.0, gt=0,
        description="least major axis (IBSI: 4 sqrt of the largest eigenvalue of the voxel "
        "covariance) of a large component taken as bone on its own. Heuristic from adult "
        "anatomy: ribs, clavicles, long bones, scapulae, the sternum, the pelvis, the skull "
        "and vertebrae with their arches and processes are longer; a compact calcified or "
        "ossified mass (myositis ossificans, a calcified node or hematoma) is usually "
        "smaller. Compact bones (vertebral bodies, carpal and tarsal bones, patella) are "
        "reached through joint_gap_mm instead",
    )
    joint_gap_mm: float = Field(
        6.0, gt=0,
        description="largest gap (mm) across which a large compact component joins the "
        "skeleton. Heuristic from anatomy: synovial joint spaces are about 2-6 mm (hip "
        "3-5 mm, knee 5-6 mm), cervical and thoracic discs about 4-6 mm; at 130 HU the "
        "cortices' partial-volume blur narrows the gap further",
    )
    core_mm: float = Field(
        3.0, gt=0,
        description="half-width of the in-plane square that opens the bone core. "
        "Heuristic: deposits on the cortex narrower than twice this are kept apart; "
        "vertebral bodies, pelvis and long bones are much wider",
    )
    deposit_max_mm: float = Field(
        12.0, gt=0,
        description="largest extent, in-plane and along the slices (centre to centre), of "
        "a part kept apart as a deposit on bone. "
        "Heuristic: "
        "a focal deposit on the cortex is compact, while a thin bony process or a rib cut "
        "off the core is longer than this. Also the diameter of the disk that opens a bone's "
        "envelope (step 4b): a bone's outer surface is smooth and convex at that scale "
        "(femoral and humeral shafts, vertebral bodies and the pelvis are "
        "wider), so a deposit up to this wide stands proud of it",
    )
    iodine_hu: tuple[float, float] = Field(
        (150.0, 450.0),
        description="median HU range of iodine-enhanced blood and organs. Heuristic, the "
        "range of calcdx.masks.exclusions' contrast rule (arterial lumens about 250-450 HU, "
        "portal venous 150-200 HU)",
    )
    smooth_max_sd_hu: float = Field(
        60.0, gt=0,
        description="a large component in the iodine range whose robust SD (IQR / 1.349) is "
        "at most this is an enhanced lumen or organ, not bone (heuristic, as in "
        "calcdx.masks.exclusions)",
    )
    dense_tail_hu: float = Field(
        150.0, gt=0,
        description="...unless its 99th percentile reaches median + this: bone always holds "
        "cortex much denser than its trabecular bulk (heuristic; the plaque margin of "
        "calcdx.masks.exclusions)",
    )
    lumen_window_mm: float = Field(
        3.0, gt=0,
        description="side of the in-plane square over which a voxel's local mean and SD "
        "are taken to find enhanced lumens inside skeleton components. Heuristic: about "
        "three voxels at 1 mm, enough to average image noise, much narrower than the aorta "
        "(about 25 mm) or the portal vein (about 12 mm)",
    )
    lumen_max_voxel_mm: float = Field(
        1.5, gt=0,
        description="largest in-plane voxel at which lumens are told from marrow by texture. "
        "Heuristic from anatomy: trabeculae are 0.1-0.3 mm thick and 0.5-1.5 mm apart, so at "
        "voxels up to about 1.5 mm cancellous bone stays heterogeneous and its cortex denser "
        "than the marrow, while at 3 mm a vertebral body is as smooth as an enhanced lumen",
    )
    lumen_min_volume_mm3: float = Field(
        200.0, gt=0,
        description="least volume of a smooth iodine-range region taken out of a skeleton "
        "component as a lumen. Heuristic: the small smooth-region size of "
        "calcdx.masks.exclusions (200 mm^3, a 10 mm length of a 5 mm vessel)",
    )
    air_hu: float = Field(
        -400.0,
        description="air, for the small parts off the bone core that border it (walls and "
        "septa of pneumatised bone are bone). Heuristic, the body mask's threshold: between "
        "aerated lung (about -900 to -500 HU) and fat (about -100 HU)",
    )
    lumen_min_radius_mm: float = Field(
        6.0, gt=0,
        description="...and only when it is thick: some voxel at least this far in-plane "
        "from its outside. Heuristic from anatomy: a rib is at most about 10 mm thick "
        "(half-thickness 5 mm), while the aorta (about 25 mm), heart chambers and the "
        "portal vein (about 12 mm) are wider",
    )
    shell_voxels: float = Field(
        2.0, gt=0,
        description="depth, in voxels from a component's outside, of the shell whose "
        "density is compared with its inside (cortex against marrow). Basis: the cortical "
        "shell of vertebral bodies is well under 1 mm thick (about 0.4 mm: Silva et al., "
        "Bone 1994;15:409-414), so at any voxel size it lies in the outer voxel, which "
        "partial volume spreads over about one more",
    )
    cortex_reach_mm: float = Field(
        6.0, gt=0,
        description="farthest distance (mm, in 3-D) of a voxel of bone from its cortex. "
        "Heuristic from anatomy, as lumen_min_radius_mm: a rib is at most about 10 mm thick "
        "(half-thickness 5 mm) plus one voxel of partial volume, so every voxel of a rib, a "
        "rib end or a cortical plate lies this near to cortex (mineral_hu + dense_tail_hu "
        "or more); a mineralised rod farther from any such voxel and bordered mostly by soft "
        "tissue (calcified costal cartilage, about 130-200 HU) is no bone. Wide marrow "
        "(a vertebral body, a femoral head) lies farther, but enclosed by bone",
    )
    cartilage_window_mm: float = Field(
        5.0, gt=0,
        description="half-width (mm) of the cube over which step 3b reads the share of the "
        "skeleton's voxels that are cortex-dense (calcdx.masks.ribcart). Heuristic from "
        "anatomy, a rib's half-thickness (a rib is at most about 10 mm thick, as "
        "lumen_min_radius_mm): the window on any voxel of a rib spans the rib and holds "
        "its cortices",
    )
    min_cortex_share: float = Field(
        0.2, gt=0, lt=1,
        description="step 3b: a part of the skeleton whose voxels each have under this "
        "share of cortex-dense voxels within cartilage_window_mm is built as calcified "
        "cartilage (granules, marginal bands), not as bone (calcdx.masks.ribcart). Basis: "
        "rib cortex is about 1 mm thick (sixth ribs: 0.9-2.6 mm mid-rib maxima, 1.4 mm on "
        "average; Holcombe et al., J Anat 2019;235:883-891), so in a 12 x 6 mm section it "
        "is 1 - (10 x 4) / (12 x 6) = 44 % of the bone; under half of that leaves room for "
        "the partial volume that brings part of a 1 mm cortex under the level at 1-1.5 mm "
        "voxels (heuristic; not fitted)",
    )
    homogeneous_max_noise_sd: float = Field(
        1.5, gt=0,
        description="a large component whose robust SD (IQR / 1.349) is at most this many "
        "image-noise SDs, with no dense tail, is a homogeneous region at the threshold (an "
        "enhanced vein, bowel wall, oral contrast), not bone, however thin. Basis: the "
        "voxels of a homogeneous region spread as image noise, robust SD at most one noise "
        "SD (less once cut at the threshold: 0.62 SD for a half-normal), 1.5 leaving room "
        "for slight heterogeneity; bone holds cortex and marrow, a spread of structure "
        "several noise SDs wide even at 3 mm voxels (heuristic; applied only when the "
        "noise SD is given)",
    )


@dataclass(frozen=True)
class BoneResult:
    """The skeleton on a crop of the grid.

    Attributes
    ----------
    component_ids : tuple of int
        Labels, in `mineral_labels`, of the components taken as skeleton.
    offset : tuple of int
        Full-grid index of ``filled[0, 0, 0]``.
    filled : (A, B, C) ndarray of bool
        Bone (cortex with marrow filled) on the crop starting at `offset`.
    exclusion : (A, B, C) ndarray of bool
        `filled` dilated by one voxel (its partial-volume rim), same crop.
    bone_labels : (A, B, C) ndarray of uint32
        Separate bones (6-connected components of `filled`), same crop.
    deposits : (A, B, C) ndarray of bool
        Mineral of skeleton components that is *not* bone: deposits lying on
        the cortex, kept apart (same crop).
    volume_mm3 : float
        Volume of `filled` in mm^3.
    cartilage : (A, B, C) ndarray of bool
        The part of `deposits` that step 3b found cortex-less on bone (a faint
        mineralised rod joined to it, such as calcified costal cartilage on its rib
        end), same crop; empty (shape (0, 0, 0)) when none was looked for.
    """

    component_ids: tuple[int, ...]
    offset: tuple[int, int, int]
    filled: NDArray[np.bool_]
    exclusion: NDArray[np.bool_]
    bone_labels: NDArray[np.uint32]
    deposits: NDArray[np.bool_]
    volume_mm3: float
    cartilage: NDArray[np.bool_] = field(
        default_factory=lambda: np.zeros((0, 0, 0), dtype=bool))
    _trees: dict[tuple[float, ...], cKDTree] = field(
        default_factory=dict, repr=False, compare=False)

    def _lookup(self, array: NDArray[Any], ijk: NDArray[np.integer[Any]]) -> NDArray[np.bool_]:
        out = np.zeros(len(ijk), dtype=bool)
        if array.size == 0 or len(ijk) == 0:
            return out
        ijk = np.asarray(ijk)
        inside: NDArray[np.bool_] | None = None
        flat: NDArray[np.intp] | None = None
        # column by column: a negative local index wraps to a huge unsigned one, so one
        # comparison tests both bounds; one flat index (C order) instead of three index
        # arrays: the same voxels, faster
        for axis, (size, off) in enumerate(zip(array.shape, self.offset, strict=True)):
            col = ijk[:, axis].astype(np.intp) - off
            ok = col.view(np.uintp) < size
            inside = ok if inside is None else inside & ok
            flat = col if flat is None else flat * size + col
        assert inside is not None and flat is not None
        out[inside] = np.take(array, flat[inside])
        return out

    def in_bone(self, ijk: NDArray[np.integer[Any]]) -> NDArray[np.bool_]:
        """Whether full-grid voxels ``ijk`` ((N, 3) int) lie in bone; (N,) bool."""
        return self._lookup(self.filled, ijk)

    def in_exclusion(self, ijk: NDArray[np.integer[Any]]) -> NDArray[np.bool_]:
        """Whether full-grid voxels ``ijk`` ((N, 3) int) lie in bone or its rim; (N,) bool."""
        return self._lookup(self.exclusion, ijk)

    def in_cartilage(self, ijk: NDArray[np.integer[Any]]) -> NDArray[np.bool_]:
        """Whether full-grid voxels ``ijk`` ((N, 3) int) are cortex-less on bone; (N,) bool.

        Step 3b's parts (calcified cartilage on a rib end), a subset of the deposits.
        """
        return self._lookup(self.cartilage, ijk)

    def in_deposit(self, ijk: NDArray[np.integer[Any]]) -> NDArray[np.bool_]:
        """Whether full-grid voxels ``ijk`` ((N, 3) int) are deposits on bone; (N,) bool."""
        return self._lookup(self.deposits, ijk)

    def surface_tree(self, spacing_mm: tuple[float, float, float]) -> cKDTree:
        """KD-tree of the bone's surface voxel centres in index x spacing (mm), cached.

        Parameters
        ----------
        spacing_mm : tuple of float

        Returns
        -------
        scipy.spatial.cKDTree
            Built once per result; queries give the distance (mm) to the nearest
            bone voxel centre from outside the bone.
        """
        key = tuple(float(s) for s in spacing_mm)
        cached = self._trees.get(key)
        if cached is None:
            # bone voxels with a 26-neighbour outside the bone (or the crop): a 3 x 3 x 3
            # erosion, separable as three boolean passes
            inner = self.filled.copy()
            for axis in range(inner.ndim):
                eroded = np.zeros_like(inner)
                lo, mid, hi = ([slice(None)] * inner.ndim for _ in range(3))
                lo[axis], mid[axis], hi[axis] = slice(None, -2), slice(1, -1), slice(2, None)
                eroded[tuple(mid)] = inner[tuple(lo)] & inner[tuple(mid)] & inner[tuple(hi)]
                inner = eroded
            flat = np.flatnonzero(self.filled & ~inner)
            surface = np.column_stack(np.unravel_index(flat, self.filled.shape))
            # an unbalanced, non-compact tree builds faster; its nearest neighbours are
            # the same
            cached = cKDTree((surface + np.asarray(self.offset)) * np.asarray(key),
                             balanced_tree=False, compact_nodes=False)
            self._trees[key] = cached
        return cached

    def full(self, shape: tuple[int, int, int]) -> NDArray[np.bool_]:
        """`filled` placed on a full grid of `shape`; (I, J, K) bool."""
        out = np.zeros(shape, dtype=bool)
        if self.filled.size:
            box = tuple(slice(o, o + s) for o, s in zip(self.offset, self.filled.shape,
                                                         strict=True))
            out[box] = self.filled
        return out


def _square_filter(mask: NDArray[np.bool_], radius_vox: tuple[int, int], op: str
                   ) -> NDArray[np.bool_]:
    """In-plane dilation (``op="max"``) or erosion (``"min"``) by a square of the given radii."""
    # shifted boolean passes: the voxels of scipy's maximum/minimum filter, faster
    return box_filter(mask, (radius_vox[0], radius_vox[1], 0), op)


def _radius(mm: float, sx: float, sy: float) -> tuple[int, int]:
    """In-plane radius in whole voxels (at least 1) for a length in mm."""
    return max(1, round(mm / sx)), max(1, round(mm / sy))


def _component_quantiles(hu: NDArray[Any], labels: NDArray[np.integer[Any]], ids: list[int]
                         ) -> NDArray[np.float64]:
    """Per component of `ids`, its 25th, 50th, 75th and 99th HU percentiles; (len(ids), 4)."""
    member = np.zeros(int(labels.max()) + 1, dtype=bool)
    member[ids] = True
    sel = member[labels]
    lab = labels[sel]
    vals = np.asarray(hu[sel], dtype=np.float32)
    del sel
    order = np.lexsort((vals, lab))
    lab, vals = lab[order], vals[order]
    starts = np.searchsorted(lab, ids, side="left")
    stops = np.searchsorted(lab, ids, side="right")
    return np.array([_quantiles(vals[a:b]) for a, b in zip(starts, stops, strict=True)]
                    ).reshape(len(ids), 4)


def _quantiles(v: NDArray[np.float32]) -> list[float]:
    """25th, 50th, 75th and 99th percentiles of ascending values (the value at that rank)."""
    return [float(v[min(len(v) - 1, int(f * len(v)))]) for f in (0.25, 0.5, 0.75, 0.99)]


def _smooth_iodine(quantiles: NDArray[np.float64], cfg: BoneConfig) -> list[bool]:
    """Per component, whether it is a smooth region in the iodine range (a lumen, not bone).

    `quantiles` are the components' 25th, 50th, 75th and 99th HU percentiles
    (:func:`_component_quantiles`).
    """
    lo, hi = cfg.iodine_hu
    return [bool(lo <= med <= hi and (q75 - q25) / 1.349 <= cfg.smooth_max_sd_hu
                 and q99 < med + cfg.dense_tail_hu) for q25, med, q75, q99 in quantiles]


def _homogeneous(quantiles: NDArray[np.float64], noise_sd_hu: float, cfg: BoneConfig
                 ) -> list[bool]:
    """Per component, whether its HU spread is image noise: a homogeneous region, not bone.

    True when the robust SD (IQR / 1.349) of its voxels is at most
    ``homogeneous_max_noise_sd`` x `noise_sd_hu` and its 99th percentile is under
    median + ``dense_tail_hu`` (no cortex). `quantiles` as in :func:`_smooth_iodine`.
    """
    limit = cfg.homogeneous_max_noise_sd * noise_sd_hu
    return [bool((q75 - q25) / 1.349 <= limit and q99 < med + cfg.dense_tail_hu)
            for q25, med, q75, q99 in quantiles]


def _thick(labels: NDArray[np.integer[Any]], c: int, box: tuple[slice, ...],
           spacing_xy: tuple[float, float], radius_mm: float) -> bool:
    """Whether component `c` holds a voxel at least `radius_mm` in-plane from its outside."""
    padded = tuple(slice(max(b.start - 1, 0), b.stop + 1) for b in box)
    mask = np.pad(labels[padded] == c, ((1, 1), (1, 1), (0, 0)))
    dist = ndi.distance_transform_edt(mask, sampling=(spacing_xy[0], spacing_xy[1], 1e6))
    return bool(float(np.max(dist)) >= radius_mm)


def _local_mean_sd(h: NDArray[np.float32], size: tuple[int, int]
                   ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """In-plane local mean and SD over a `size` window, slice by slice (float32).

    Filtered a slab of slices at a time, with no window along the slices: the same
    values as slice by slice, in fewer calls.
    """
    mean = np.empty_like(h)
    sd = np.empty_like(h)
    window = (size[0], size[1], 1)
    for k0 in range(0, h.shape[2], _SLAB):
        sl = h[:, :, k0:k0 + _SLAB]
        m = ndi.uniform_filter(sl, size=window, mode="nearest")
        m2 = ndi.uniform_filter(sl * sl, size=window, mode="nearest")
        mean[:, :, k0:k0 + _SLAB] = m
        sd[:, :, k0:k0 + _SLAB] = np.sqrt(np.maximum(m2 - m * m, 0.0))
    return mean, sd


#: Slices filtered at once by the in-plane windows of :func:`_local_mean_sd` and
#: :func:`_below_smooth_neighbours` (memory: a few float32 slabs of this many slices).
_SLAB = 32


def _below_smooth_neighbours(h: NDArray[np.float32], like: NDArray[np.bool_],
                             size: tuple[int, int]) -> NDArray[np.bool_]:
    """Voxels less dense than the mean of the smooth voxels within an in-plane window.

    A slab of slices at a time, no window along the slices (a slice without smooth
    voxels has none near, as slice by slice).
    """
    out = np.zeros(like.shape, dtype=bool)
    window = (size[0], size[1], 1)
    for k0 in range(0, h.shape[2], _SLAB):
        lk = like[:, :, k0:k0 + _SLAB]
        if not lk.any():
            continue
        hk = h[:, :, k0:k0 + _SLAB]
        frac = ndi.uniform_filter(lk.astype(np.float32), size=window, mode="constant")
        total = ndi.uniform_filter(np.where(lk, hk, 0.0).astype(np.float32),
                                   size=window, mode="constant")
        out[:, :, k0:k0 + _SLAB] = (frac > 0) & (hk * frac < total)
    return out


def _between_lumen_slices(lab: NDArray[np.integer[Any]], ok: NDArray[np.bool_],
                          candidate: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Per in-plane part, whether a smooth part lies within lumen on both judged slices.

    A lumen is a tube along the slices: a smooth part whose every judged neighbour
    slice (one at the ends of the stack) holds accepted lumen over at least half
    of its area is lumen too, though its own slice's edge, by noise, enclosed it
    as cortex encloses marrow. `lab` holds the parts of the judged slices, `ok`
    the accepted ones and `candidate` the smooth ones, by label.
    """
    out = np.zeros(len(ok), dtype=bool)
    if lab.shape[2] < 2:
        return out
    acc = ok[lab]
    prev = np.ones(acc.shape, dtype=bool)
    prev[:, :, 1:] = acc[:, :, :-1]
    both = np.ones(acc.shape, dtype=bool)
    both[:, :, :-1] = acc[:, :, 1:]
    both &= prev
    total = np.bincount(lab.ravel(), minlength=len(ok))
    hits = np.bincount(lab.ravel(), weights=both.ravel(), minlength=len(ok))
    out = candidate & ~ok & (hits >= 0.5 * np.maximum(total, 1))
    out[0] = False
    return np.asarray(out, dtype=bool)


def _lumens(hu: NDArray[Any], comp: NDArray[np.bool_], spacing: tuple[float, float, float],
            cfg: BoneConfig) -> NDArray[np.bool_]:
    """Enhanced lumens and organs inside skeleton components (a crop), as a mask.

    A lumen voxel's in-plane neighbourhood (``lumen_window_mm``) is smooth (SD at
    most ``smooth_max_sd_hu``) with its mean from ``mineral_hu`` to the top of
    ``iodine_hu``. In each slice these voxels are cut at necks (an in-plane
    erosion by about half a window), so an aorta lying against a vertebral body
    and the smooth marrow inside that body are judged apart. A part is a lumen's
    cross-section when its mean lies in that range, its SD is at most
    ``smooth_max_sd_hu``, and less than half of it lies inside the rest of the
    component's mineral sealed and filled in-plane as in step 3 of
    :func:`bone_mask`: marrow is enclosed by cortex, a lumen by its wall and soft
    tissue. A dense lumen's own edge (mineral that is not smooth only because the
    window reaches out of it) can enclose it in that sense; such a part is still
    a lumen when it is not enclosed by voxels denser than the smooth voxels next
    to them (cortex is denser than marrow, a partial-volume edge is not) and
    half of its ring one to two windows out is soft tissue; and a smooth part
    lying within accepted lumen on the judged slices on either side is a lumen
    too (a tube along the slices; noise can make one slice's edge enclose it).
    Accepted parts are
    grown back by the erosion inside the smooth voxels
    and form 3-D regions (6-connected), kept from ``lumen_min_volume_mm3`` when
    thick (a voxel ``lumen_min_radius_mm`` in-plane from their outside: the
    aorta, heart chambers, portal vein). Each is grown in-plane by one window
    into voxels less dense than the top of ``iodine_hu`` (its partial-volume
    wall), never into plaque or cortex denser than that.
    """
    sx, sy, sz = spacing
    out = np.zeros(comp.shape, dtype=bool)
    w = (max(1, round(cfg.lumen_window_mm / sx)) | 1, max(1, round(cfg.lumen_window_mm / sy)) | 1)
    # the in-plane neighbourhood of the component, judged only on the picked slices
    # below (a slice holds some of it exactly where it holds some of the component)
    slices = np.flatnonzero(comp.any(axis=(0, 1)))
    if slices.size == 0:
        return out
    k0, k1 = int(slices[0]), int(slices[-1]) + 1
    # Thin slices: judge every m-th slice (about one window apart); each judgement
    # holds for the slices nearest to it (a lumen changes little over a window).
    m = max(1, int(cfg.lumen_window_mm / sz))
    picked = np.arange(k0, k1, m)
    h = np.asarray(hu[:, :, picked], dtype=np.float32)
    comp_p = comp[:, :, picked]
    near = _square_filter(comp_p, (w[0], w[1]), "max")
    sz = sz * m
    mean, sd = _local_mean_sd(h, w)
    top = cfg.iodine_hu[1]
    like = (mean >= cfg.mineral_hu) & (mean <= top) & (sd <= cfg.smooth_max_sd_hu)
    like &= near
    del mean, sd
    if not like.any():
        return out
    half = (w[0] // 2 + 1, w[1] // 2 + 1)
    seeds = _square_filter(like, half, "min")
    lab, n = ndi.label(seeds, structure=_SLICE_STRUCT8)
    del seeds
    if n == 0:
        return out
    # Marrow lies in-plane inside the rest of the bone (cortex, trabeculae) once the
    # cortex is sealed as in step 3; a lumen does not.
    close_r = _radius(cfg.close_mm, sx, sy) if cfg.close_mm > 0 else (0, 0)
    area_vox = int(cfg.max_hole_area_mm2 / (sx * sy))

    def inside(other: NDArray[np.bool_]) -> NDArray[np.bool_]:
        if close_r != (0, 0):
            other = _square_filter(_square_filter(other, close_r, "max"), close_r, "min") | other
        return fill_holes_2d_3d(other, max_hole_area_vox=area_vox, three_d=False) & ~other

    enclosed = inside(comp_p & ~like)
    # ... and enclosed by voxels denser than the smooth ones next to them: a dense
    # lumen's own edge (partial volume toward soft tissue) is less dense than it.
    enclosed_dense = inside(comp_p & ~like & ~_below_smooth_neighbours(h, like, w))
    flat = lab.ravel()
    hv = h.ravel().astype(np.float64)
    n_all = np.bincount(flat, minlength=n + 1).astype(np.float64)
    n_in = np.bincount(flat, weights=enclosed.ravel(), minlength=n + 1)
    n_in_dense = np.bincount(flat, weights=enclosed_dense.ravel(), minlength=n + 1)
    s1 = np.bincount(flat, weights=hv, minlength=n + 1)
    s2 = np.bincount(flat, weights=hv * hv, minlength=n + 1)
    del enclosed, enclosed_dense, hv, flat
    n_all[0] = 1.0
    mu = s1 / n_all
    sd_part = np.sqrt(np.maximum(s2 / n_all - mu * mu, 0.0))
    # A dense lumen's own edge (mineral, not smooth as its window reaches out) can
    # enclose it as cortex encloses marrow; then it is a lumen when that edge is not
    # denser than it and, beyond, one to two windows out, it meets soft tissue, where
    # marrow meets more bone.
    near1 = ndi.maximum_filter(lab, size=(2 * w[0] + 1, 2 * w[1] + 1, 1))
    near2 = ndi.maximum_filter(lab, size=(4 * w[0] + 1, 4 * w[1] + 1, 1))
    far = (near1 == 0) & (near2 > 0)
    n_far = np.bincount(near2[far], minlength=n + 1)
    n_far_soft = np.bincount(near2[far & (h < cfg.mineral_hu)], minlength=n + 1)
    del near1, near2, far
    open_or_soft = (n_in < 0.5 * n_all) | (
        (n_in_dense < 0.5 * n_all) & (n_far_soft >= 0.5 * np.maximum(n_far, 1)))
    ok = (open_or_soft & (mu >= cfg.mineral_hu) & (mu <= top)
          & (sd_part <= cfg.smooth_max_sd_hu))
    ok[0] = False
    smooth_part = (mu >= cfg.mineral_hu) & (mu <= top) & (sd_part <= cfg.smooth_max_sd_hu)
    ok |= _between_lumen_slices(lab, ok, smooth_part)
    lumen = _square_filter(ok[lab], half, "max") & like
    del lab
    rlab, nr = cc3d.connected_components(lumen, connectivity=6, return_N=True)
    if nr == 0:
        return out
    vv = sx * sy * sz
    keep = np.bincount(rlab.ravel(), minlength=nr + 1) * vv >= cfg.lumen_min_volume_mm3
    keep[0] = False
    boxes = cc3d.statistics(rlab)["bounding_boxes"]
    for c in np.flatnonzero(keep):
        keep[c] = _thick(rlab, int(c), boxes[c], (sx, sy), cfg.lumen_min_radius_mm)
    lumen = keep[rlab]
    del rlab
    wall = _square_filter(lumen, (w[0], w[1]), "max") & (h < top)
    if not wall.any():
        return out
    nearest = np.clip(np.rint((np.arange(k0, k1) - k0) / m).astype(np.intp), 0, len(picked) - 1)
    out[:, :, k0:k1] = wall[:, :, nearest]
    return out


def _cortexless(hu: NDArray[Any], filled: NDArray[np.bool_],
                spacing: tuple[float, float, float], cfg: BoneConfig) -> NDArray[np.bool_]:
    """Parts of the filled skeleton with no cortex near them and soft tissue around them.

    A voxel of `filled` is *far* from cortex when no voxel of `filled` of at least
    ``mineral_hu + dense_tail_hu`` (or the 90th HU percentile of the mineral in
    `filled`, when lower: an osteopenic skeleton's densest tenth) lies within
    ``cortex_reach_mm`` of it (in 3-D, so the faint partial-volume end of a process
    cut across the slices, with its cortex in the next slice, is near cortex). On
    grids finer than a sixth of ``cortex_reach_mm`` along an axis (thin slices) the
    distance is measured between blocks of voxels of about that length (a rule of
    millimetres, not of voxels; near then means within it give or take one block).
    Far voxels form parts (26-connected). A
    part is not bone when it holds at least ``min_volume_mm3`` (a part step 4 would
    keep as bone for its size; smaller parts are judged there, as every part off the
    core) and at least half of its in-plane border (the voxels one step outside it in
    its slices) lies outside `filled`: a faint mineralised rod in soft tissue, such as
    calcified costal cartilage joined to its rib end, whose mineral is a deposit. Wide
    marrow far from cortex is bordered by the bone around it and stays bone.
    """
    out = np.zeros(filled.shape, dtype=bool)
    h = np.asarray(hu)
    mineral = filled & (h >= cfg.mineral_hu)
    if not mineral.any():
        return out
    # Cortex: at least mineral_hu + dense_tail_hu, or, in an osteopenic skeleton whose
    # mineral is fainter, its own densest tenth (the 90th percentile of its mineral).
    level = min(cfg.mineral_hu + cfg.dense_tail_hu, float(np.percentile(h[mineral], 90)))
    del mineral
    block = [max(1, int(cfg.cortex_reach_mm / (6.0 * sp))) for sp in spacing]
    nb = [-(-n // f) for n, f in zip(filled.shape, block, strict=True)]
    dense = np.zeros([b * f for b, f in zip(nb, block, strict=True)], dtype=bool)
    dense[: filled.shape[0], : filled.shape[1], : filled.shape[2]] = filled & (h >= level)
    dense_b: NDArray[np.bool_] = np.asarray(
        dense.reshape(nb[0], block[0], nb[1], block[1], nb[2], block[2]).any(axis=(1, 3, 5)))
    del dense
    sampling = [f * sp for f, sp in zip(block, spacing, strict=True)]
    # within reach of a dense block: its distance transform thresholded, or (the same
    # blocks, where there is a dense one) a dilation by the ball of that reach
    near = (ball_dilation(dense_b, (sampling[0], sampling[1], sampling[2]), cfg.cortex_reach_mm)
            if dense_b.any() else
            ndi.distance_transform_edt(~dense_b, sampling=sampling) <= cfg.cortex_reach_mm)
    for axis, f in enumerate(block):
        if f > 1:  # a repeat by 1 would only copy
            near = np.repeat(near, f, axis=axis)
    far = filled & ~near[: filled.shape[0], : filled.shape[1], : filled.shape[2]]
    del near, dense_b
    if not far.any():
        return out
    parts, n_parts = cc3d.connected_components(far, connectivity=26, return_N=True)
    # counts and boxes from the parts' voxels, as cc3d.statistics gives them (no pass
    # over the whole crop)
    at = np.flatnonzero(parts)
    counts, part_boxes = _part_stats(parts, int(n_parts), at, parts.ravel()[at])
    del at
    big = counts * float(np.prod(spacing)) >= cfg.min_volume_mm3
    big[0] = False
    for c in np.flatnonzero(big):
        b = part_boxes[c]
        box = (slice(max(b[0].start - 1, 0), b[0].stop + 1),
               slice(max(b[1].start - 1, 0), b[1].stop + 1), b[2])
        part = parts[box] == c
        border = _square_filter(part, (1, 1), "max") & ~part
        n_out = int(np.count_nonzero(border & ~filled[box]))
        if n_out >= 0.5 * max(int(np.count_nonzero(border)), 1):
            out[box] |= part
    return out


def _in_outline(parts: NDArray[np.integer[Any]], boxes: Any, bone: NDArray[np.bool_],
                which: NDArray[np.bool_], spacing_xy: tuple[float, float],
                radius_mm: float) -> NDArray[np.bool_]:
    """Per part label, whether most of it lies inside the bones' in-plane outline.

    The outline is `bone` closed slice by slice by a disk of `radius_mm` (a disk,
    not a square: a square closing leaves the right-angled steps of a square-opened
    core along an oblique cortex open, and they would pass for bumps). Only the
    parts flagged in `which` are judged, each on its own padded box (`boxes`, the
    parts' bounding boxes by label).
    """
    out = np.zeros(len(which), dtype=bool)
    pad = [int(np.ceil(2.0 * radius_mm / s)) + 1 for s in spacing_xy]
    sampling = (spacing_xy[0], spacing_xy[1], 1e9)  # in-plane distances only

    def judge(c: int) -> bool:
        b = boxes[c]
        box = (slice(max(b[0].start - pad[0], 0), b[0].stop + pad[0]),
               slice(max(b[1].start - pad[1], 0), b[1].stop + pad[1]), b[2])
        part = parts[box] == c
        other = bone[box] & ~part
        if not other.any():
            return False
        grown = _disk_dilation(other, spacing_xy, radius_mm)
        # the in-plane erosion by the same disk: farther than radius_mm from every voxel
        # outside `grown` in its slice (a box without any such voxel keeps the transform)
        closed = (~_disk_dilation(~grown, spacing_xy, radius_mm) if not grown.all()
                  else ndi.distance_transform_edt(grown, sampling=sampling) > radius_mm)
        return bool(np.count_nonzero(closed & part) >= 0.5 * np.count_nonzero(part))

    todo = [int(c) for c in np.flatnonzero(which)
            if c != 0 and c < len(boxes) and boxes[c] is not None]
    # each part on its own box: half of them on a second core (calcdx._threads)
    out[todo] = map_split(judge, todo)
    return out


def _across_slices(parts: NDArray[np.integer[Any]], bone: NDArray[np.bool_],
                   at: NDArray[np.intp] | None = None) -> NDArray[np.bool_]:
    """Per part label, whether at least half its voxels lie right above or below bone.

    Such a part is the bone's own surface cut obliquely by the slices (the end of
    a process, an arch or a plate running across them, seen off the core in one
    slice and as core in the next), not a deposit beside the bone: a deposit on
    the side of a bone has deposit or soft tissue above and below it. Judged
    along the slice axis only, so a deposit sitting on a bone's upper or lower
    face and less than about two slices high is taken as bone. `at`, when given, holds
    the flat (C-order) indices of the parts' voxels (``np.flatnonzero(parts)``).
    """
    n = int(parts.max()) + 1
    i, j, k = np.nonzero(parts) if at is None else np.unravel_index(at, parts.shape)
    lab = parts[i, j, k]
    over = np.zeros(len(lab), dtype=bool)
    up = k + 1 < bone.shape[2]
    over[up] = bone[i[up], j[up], k[up] + 1]
    down = k >= 1
    over[down] |= bone[i[down], j[down], k[down] - 1]
    total = np.bincount(lab, minlength=n)
    on_bone = np.bincount(lab, weights=over, minlength=n)
    out: NDArray[np.bool_] = on_bone >= 0.5 * np.maximum(total, 1)
    out[0] = False
    return out


def _borders_air(parts: NDArray[np.integer[Any]], boxes: Any, which: NDArray[np.bool_],
                 hu: NDArray[Any], cfg: BoneConfig) -> NDArray[np.bool_]:
    """Per part label, whether a small part off the core borders air: thin bone, not a deposit.

    Air is HU <= ``air_hu`` within one voxel in-plane: the walls and septa of
    pneumatised bone (the paranasal sinuses, mastoid air cells, the pterygoid
    plates by the nasopharynx) lie on air, soft-tissue deposits in soft tissue.
    Only the parts flagged in `which` are judged; `boxes` are the parts'
    bounding boxes by label.
    """
    out = np.zeros(len(which), dtype=bool)
    for c in np.flatnonzero(which):
        if c == 0 or c >= len(boxes) or boxes[c] is None:
            continue
        b = boxes[c]
        box = (slice(max(b[0].start - 1, 0), b[0].stop + 1),
               slice(max(b[1].start - 1, 0), b[1].stop + 1), b[2])
        ring = _square_filter(parts[box] == c, (1, 1), "max")
        out[c] = bool(np.any(ring & (np.asarray(hu[box]) <= cfg.air_hu)))
    return out


def _deeper(mask: NDArray[np.bool_], spacing_xy: tuple[float, float], radius_mm: float
            ) -> NDArray[np.bool_]:
    """Voxels of `mask` farther in-plane than `radius_mm` from its outside, slice by slice.

    The array's in-plane edge counts as outside. The same voxels as a distance
    transform of each slice (padded by one outside voxel) above `radius_mm`: the
    complement of the outside's dilation by that disk (:func:`_disk_dilation`).
    """
    padded = np.pad(mask, ((1, 1), (1, 1), (0, 0)))
    return np.asarray(~_disk_dilation(~padded, spacing_xy, radius_mm)[1:-1, 1:-1], dtype=bool)


class _Piece(NamedTuple):
    """One bone on its box, as :func:`_proud_deposits` reads it."""

    bone: NDArray[np.bool_]  # the bone's voxels
    hu: NDArray[Any]  # HU
    deep: NDArray[np.bool_]  # farther in-plane than the shell (shell_voxels) from its outside
    inner: NDArray[np.bool_]  # deeper than the envelope's radius: the medulla's seat
    envelope: NDArray[np.bool_]  # the bone opened in-plane by the envelope's disk


def _proud_deposits(hu: NDArray[Any], bone: NDArray[np.bool_],
                    spacing: tuple[float, float, float], cfg: BoneConfig) -> NDArray[np.bool_]:
    """Deposits wider than the core standing proud of a bone, its cortex intact beneath.

    Step 4 keeps apart only deposits narrower than ``2 core_mm``; a wider one
    lying on the cortex stays in the core. This step looks at each bone (a
    6-connected part of `bone`) on its own box. Its *envelope* is the bone opened
    slice by slice by a disk of radius ``deposit_max_mm / 2``: a bone's outer
    surface is smooth and convex at that scale (a femoral or humeral shaft, a
    vertebral body, the pelvis are wider), so what lies outside it stands proud
    of the surface: a process, a tuberosity, an osteophyte, a rib, an ossicle or
    a deposit. Such a part reaching more than ``core_mm`` in-plane from the
    bone's outside (the core kept it; a thinner one step 4 judged) is a deposit
    when

    - it has an inside: voxels more than ``shell_voxels`` voxels in-plane from
      the bone's outside;
    - it is compact in-plane: on every slice it spans at most ``deposit_max_mm``
      (a rib or a long process seen along its course is longer);
    - it is not the bone's surface cut across the slices (at most half of it
      lies right above or below the envelope) and borders no air (the walls of
      pneumatised bone);
    - it stands proud: it meets the envelope in-plane and reaches at least
      ``2 core_mm`` out of it (the width step 4 leaves to the core), so a
      thickening or roughness of the cortex along the surface (a tuberosity's,
      as on the lateral humeral shaft of the shared Siemens series at thin
      slices) stays bone;
    - its inside is *not continuous with the bone's medulla*: no path through
      the bone less dense than ``dense_tail_hu`` above the denser of the two
      insides (their 25th HU percentiles: marrow, or a deposit's less dense
      core) joins its inside to the medulla (the envelope's own inside, more
      than ``deposit_max_mm / 2`` in-plane from the outside). Bony prominences
      (trochanters, tuberosities, processes, osteophytes) carry the parent's
      medulla into them, the cortex opening into them: corticomedullary
      continuity, the defining sign of an osteochondroma or an osteophyte
      (Murphey et al., RadioGraphics 2000;20:1407-1434); a deposit lies on the
      cortex, which runs on beneath it and seals the medulla off (myositis
      ossificans, juxtacortical calcific tendinitis: Kransdorf and Meis,
      RadioGraphics 1993;13:853-884). A part as dense as the cortex and fused
      with it is bone by the same test (the path runs through it).

    A deposit keeps its base, where the envelope reaches into it
    (:func:`_deposit_base`). On slices thinner than the in-plane voxel, every
    m-th slice is judged (about one in-plane voxel apart) and its judgement
    holds, within the bone, for the slices nearest to it. Returns the
    deposits' voxels (mineral and not) on the grid of `bone`.
    """
    sx, sy, sz = spacing
    out = np.zeros(bone.shape, dtype=bool)
    core_r = _radius(cfg.core_mm, sx, sy)
    if min(core_r) < 2 or not bone.any():
        return out  # as in step 4: a one-voxel core cannot tell a deposit
    # Thin slices: judge every m-th slice (about one in-plane voxel apart); each
    # judgement holds for the slices nearest to it, within the bone there.
    m = max(1, int(min(sx, sy) / sz))
    if m > 1:
        picked = np.arange(0, bone.shape[2], m)
        judged = _proud_deposits(hu[:, :, picked], np.ascontiguousarray(bone[:, :, picked]),
                                 (sx, sy, sz * m), cfg)
        nearest = np.clip(np.rint(np.arange(bone.shape[2]) / m).astype(np.intp), 0,
                          len(picked) - 1)
        return np.asarray(judged[:, :, nearest] & bone, dtype=bool)
    env_mm = cfg.deposit_max_mm / 2.0
    pad = (int(np.ceil(env_mm / sx)) + 1, int(np.ceil(env_mm / sy)) + 1, 1)
    need = (2.0 * env_mm / sx, 2.0 * env_mm / sy)
    labels, n = cc3d.connected_components(bone, connectivity=6, return_N=True)
    boxes = cc3d.statistics(labels)["bounding_boxes"]

    def judge(c: int) -> tuple[tuple[slice, ...], NDArray[np.bool_]] | None:
        """Bone `c`'s deposits on its box, or None."""
        b = boxes[c]
        box = tuple(slice(max(s.start - p, 0), min(s.stop + p, size))
                    for s, p, size in zip(b, pad, bone.shape, strict=True))
        f = labels[box] == c
        inner = _deeper(f, (sx, sy), env_mm)
        if not inner.any():
            return None
        envelope = _disk_dilation(inner, (sx, sy), env_mm) & f
        rest = f & ~envelope
        # parts reaching deeper than core_mm: the core kept them (narrower ones step 4 judged)
        wide = rest & _deeper(f, (sx, sy), cfg.core_mm)
        if not wide.any():
            return None
        piece = _Piece(f, hu[box], _deeper(f, (sx, sy), cfg.shell_voxels * max(sx, sy)),
                       inner, envelope)
        rl = cc3d.connected_components(rest, connectivity=26)
        del rest
        part_boxes = cc3d.statistics(rl)["bounding_boxes"]
        margin = (2 * core_r[0] + 1, 2 * core_r[1] + 1, 1)
        reach_slices = max(1, int(np.ceil(2.0 * cfg.core_mm / sz)))
        found = np.zeros_like(f)
        for part_id in np.unique(rl[wide]):
            pb = part_boxes[part_id]
            grown = tuple(slice(max(s.start - g, 0), min(s.stop + g, size))
                          for s, g, size in zip(pb, margin, f.shape, strict=True))
            part = _wide_slices(rl[grown] == part_id, wide[grown], reach_slices)
            if _proud_deposit(part, grown, piece, spacing, cfg):
                found[grown] |= part
        if not found.any():
            return None
        return box, _deposit_base(found, piece, core_r, spacing, cfg)

    todo = [c for c in range(1, n + 1) if boxes[c] is not None
            and (boxes[c][0].stop - boxes[c][0].start) >= need[0]
            and (boxes[c][1].stop - boxes[c][1].start) >= need[1]]  # wide enough for the disk
    # each bone on its own box, half of them on a second core; OR-ed here in order
    for hit in map_split(judge, todo):
        if hit is not None:
            out[hit[0]] |= hit[1]
    return out


def _wide_slices(part: NDArray[np.bool_], wide: NDArray[np.bool_], reach_slices: int
                 ) -> NDArray[np.bool_]:
    """`part` on its slices within `reach_slices` of those where it is `wide`.

    A part outside a bone's envelope that the core kept (reaching more than
    ``core_mm`` from the bone's outside) may be joined, through the thin strip
    that a coarse in-plane grid leaves outside the envelope of a gently curved
    surface (the staircase of its digital outline), to that strip along the whole
    bone; the strip is the bone's outline, which step 4 judged, not the part. The
    part is its slices where it is wide and those within `reach_slices` of them
    (``2 core_mm``, the width step 4 leaves to the core: its tips, which stand
    less far out).
    """
    ks = np.flatnonzero((part & wide).any(axis=(0, 1)))
    if len(ks) == 0:
        return part
    out = np.zeros_like(part)
    lo, hi = max(int(ks[0]) - reach_slices, 0), int(ks[-1]) + reach_slices + 1
    out[:, :, lo:hi] = part[:, :, lo:hi]
    return out

def _disk_dilation(mask: NDArray[np.bool_], spacing_xy: tuple[float, float], radius_mm: float
                   ) -> NDArray[np.bool_]:
    """`mask` dilated slice by slice by a disk of `radius_mm` (in-plane distance).

    The disk's rows as running ORs (:func:`calcdx.masks._filters.disk_dilation`, the
    same voxels as a distance transform of each slice).
    """
    return disk_dilation(mask, spacing_xy, radius_mm)


def _deposit_base(found: NDArray[np.bool_], piece: _Piece, core_r: tuple[int, int],
                  spacing: tuple[float, float, float], cfg: BoneConfig) -> NDArray[np.bool_]:
    """The deposits `found` on a bone, with their base inside its envelope.

    Where a deposit meets the cortex, the envelope's disks reach into it (its
    bulk makes the bone deeper there). Within ``core_mm`` of a deposit (the
    growth step 4 allows its core), the envelope's voxels less dense than the
    bone's cortex (the 75th HU percentile of the envelope's shell, its outer
    ``shell_voxels``, away from the deposits) by ``dense_tail_hu``, joined to the
    deposit through such voxels and not to the medulla, are the deposit's base:
    the cortex, and the marrow beyond it, stay bone.
    """
    near = _square_filter(found, core_r, "max")
    zone = piece.envelope & near
    shell = piece.envelope & ~piece.deep & ~near
    if not zone.any() or not shell.any():
        return found
    cortex_hu = float(np.percentile(piece.hu[shell], 75))
    soft = zone & (piece.hu < cortex_hu - cfg.dense_tail_hu)
    # Face-connected: a cortex one voxel thick (at coarse voxels) is a digital curve
    # joined through edges and corners, which a 26-connected path through its
    # diagonal gaps would cross into the marrow beyond it.
    lab = cc3d.connected_components(soft | found, connectivity=6)
    keep = np.zeros(int(lab.max()) + 1, dtype=bool)
    keep[lab[found]] = True
    keep[lab[piece.inner & soft]] = False
    keep[0] = False
    return np.asarray(found | (keep[lab] & soft), dtype=bool)


def _proud_deposit(part: NDArray[np.bool_], box: tuple[slice, ...], piece: _Piece,
                   spacing: tuple[float, float, float], cfg: BoneConfig) -> bool:
    """Whether `part`, outside the envelope of `piece`, is a deposit (:func:`_proud_deposits`).

    `part` is given on `box` of the piece's grid: its bounding box grown by
    ``2 core_mm`` in-plane (the height it must stand proud by) and one slice.
    """
    sx, sy, _ = spacing
    deep, envelope, h = piece.deep[box], piece.envelope[box], piece.hu[box]
    part_in = part & deep
    if not part_in.any():
        return False
    for k in np.flatnonzero(part.any(axis=(0, 1))):
        ii, jj = np.nonzero(part[:, :, k])
        if max((ii.max() - ii.min() + 1) * sx, (jj.max() - jj.min() + 1) * sy) > cfg.deposit_max_mm:
            return False
    over = np.zeros_like(part)
    over[:, :, 1:] |= envelope[:, :, :-1]
    over[:, :, :-1] |= envelope[:, :, 1:]
    if np.count_nonzero(over & part) >= 0.5 * np.count_nonzero(part):
        return False
    ring = _square_filter(part, (1, 1), "max")
    if np.any(ring & (h <= cfg.air_hu)):
        return False
    # It stands proud of the envelope by the core's width (2 core_mm): a bump on the
    # surface, not a thickening or roughness of the cortex along it.
    if not np.any(ring & envelope):
        return False  # not on the envelope's surface in-plane
    height = 0.0
    for k in np.flatnonzero(part.any(axis=(0, 1)) & envelope.any(axis=(0, 1))):
        dist = ndi.distance_transform_edt(~envelope[:, :, k], sampling=(sx, sy))
        height = max(height, float(dist[part[:, :, k]].max()))
    if height < 2.0 * cfg.core_mm:
        return False
    q_part = float(np.percentile(h[part_in], 25))
    q_medulla = float(np.percentile(piece.hu[piece.inner], 25))
    low = piece.bone & (piece.hu < max(q_part, q_medulla) + cfg.dense_tail_hu)
    lab = cc3d.connected_components(low, connectivity=6)
    joined = np.intersect1d(lab[box][part_in & low[box]], lab[piece.inner & low])
    return not bool(np.any(joined > 0))


def _open_to_tissue(holes: NDArray[np.bool_], sealed: NDArray[np.bool_],
                    enclosed: NDArray[np.bool_] | None = None) -> NDArray[np.bool_]:
    """The voxels of axial `holes` whose 3-D background reaches the tissue beside the bone.

    The spinal canal opens to the soft tissue at every level (the intervertebral
    foramina and the interlaminar spaces at each disc), so in 3-D its background
    (6-connected, outside `sealed`) joins the background at the crop's in-plane
    faces; a marrow cavity of water density (red marrow of a child's shaft) is
    closed by the cortex along the shaft and reaches at most the grid's first or
    last slice. A stack shorter than one vertebra with its disc cannot show the
    foramina: there a canal is filled as marrow.

    `enclosed`, when given, holds every background region of `sealed` enclosed in
    its axial slice (4-connected, off the slice's edge; `holes` among them): a hole's
    3-D background reaches the in-plane faces exactly when its part of `enclosed`
    meets, across the slices, background that is not enclosed
    (:func:`_enclosed_parts`), found without labelling the whole background.
    """
    if not holes.any():
        return holes
    if enclosed is not None:
        box, labels, leaks, _ = _enclosed_parts(sealed, enclosed, 2)
        out = np.zeros(holes.shape, dtype=bool)
        out[box] = leaks[labels] & holes[box]
        return out
    labels, n = cc3d.connected_components(~sealed, connectivity=6, return_N=True)
    outside = np.zeros(int(n) + 1, dtype=bool)
    for face in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        outside[face] = True
    outside[0] = False
    # judged at the holes' voxels only (C order), not over the whole crop
    out = np.zeros(holes.shape, dtype=bool)
    at = np.flatnonzero(holes)
    out.reshape(-1)[at] = outside[labels.reshape(-1)[at] if labels.flags.c_contiguous
                                  else labels.ravel()[at]]
    return out


def _canal_run_on(hu: NDArray[Any], extra: NDArray[np.bool_], canal: NDArray[np.bool_],
                  cfg: BoneConfig) -> NDArray[np.bool_]:
    """The spinal canal where it is no axial hole, filled in the other planes.

    Where the canal opens in-plane to the soft tissue (the interlaminar space, a
    foramen) it is no axial hole, yet the coronal and sagittal planes close it
    between the canal's own axial holes above and below, filled in the first step.
    `extra` holds the voxels filled only in those planes or in 3-D, `canal` the
    canal's axial holes (:func:`_open_to_tissue`). A 6-connected part of `extra`
    touching `canal` whose mean HU lies in ``water_hole_hu`` (water and soft tissue,
    not marrow, as for the canal's holes) is the canal running on.
    """
    if not extra.any() or not canal.any():
        return np.zeros_like(canal)
    parts, n = cc3d.connected_components(extra, connectivity=6, return_N=True)
    touch = np.zeros(n + 1, dtype=bool)
    touch[parts[box_filter(canal, (1, 1, 1), "max") & extra]] = True
    touch[0] = False
    if not touch.any():
        return np.zeros_like(canal)
    at = parts > 0
    lab = parts[at]
    count = np.bincount(lab, minlength=n + 1)
    # the parts' HU cast to float64 at their voxels, not over the whole crop
    total = np.bincount(lab, weights=np.asarray(hu)[at].astype(np.float64), minlength=n + 1)
    mean = total / np.maximum(count, 1)
    lo, hi = cfg.water_hole_hu
    return np.asarray((touch & (mean >= lo) & (mean <= hi))[parts], dtype=bool)


def _cavities(enclosed: NDArray[np.bool_], filled: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The axial holes that are part of a body cavity, not marrow.

    `enclosed` holds every background region enclosed in its axial slice (filled
    or not) and `filled` those filled as holes up to ``max_hole_area_mm2``
    (:func:`_axial_holes`): the enclosed regions outside `filled` were too large
    to be marrow (the cranial cavity, an enclosed thorax or pelvic ring). A part of
    `enclosed` 6-connected across the slices with such a region is that cavity:
    the temporal lobe in the middle cranial fossa, or the cerebellum in the
    posterior fossa, whose sections at the skull base are small enough to fill
    but continuous with the brain above. A marrow cavity is closed off from any
    cavity by its cortex. Returns those parts (bool, the crop's shape), every
    voxel of them, also the too-large regions themselves (so planes of another
    orientation cannot fill them either).
    """
    big = enclosed & ~filled
    if not big.any():
        return big
    box = tuple(slice(int(a.min()), int(a.max()) + 1) for a in np.nonzero(enclosed))
    labels, n = cc3d.connected_components(enclosed[box], connectivity=6, return_N=True)
    in_cavity = np.zeros(int(n) + 1, dtype=bool)
    in_cavity[labels[big[box]]] = True
    in_cavity[0] = False
    out = np.zeros(enclosed.shape, dtype=bool)
    out[box] = in_cavity[labels]
    return out


def _water_holes(hu: NDArray[Any], sealed: NDArray[np.bool_], spacing: tuple[float, float],
                 cfg: BoneConfig) -> NDArray[np.bool_]:
    """Axial holes of `sealed` of water or soft-tissue density: the spinal canal, not marrow.

    A hole (4-connected background of a slice not reaching its edge) of at most
    ``water_hole_max_area_mm2`` whose mean HU lies in ``water_hole_hu``.
    """
    out = np.zeros(sealed.shape, dtype=bool)
    for k, box, lab, inner, count in _plane_holes(sealed, 2):
        _mark_water(out, k, box, hu, lab, inner, count, spacing, cfg)
    return out


def _mark_water(out: NDArray[np.bool_], k: int, box: tuple[slice, slice], hu: NDArray[Any],
                lab: NDArray[np.unsignedinteger[Any]], inner: NDArray[np.bool_],
                count: NDArray[np.intp], spacing: tuple[float, float], cfg: BoneConfig) -> None:
    """Set in slice `k` of `out` the water holes among that slice's holes (see _water_holes).

    `lab`, `inner` and `count` are the background regions of the slice's `box`, which
    of them are enclosed and their sizes (:func:`_plane_holes`); `inner` is not changed.
    """
    lo, hi = cfg.water_hole_hu
    small = inner & (count * spacing[0] * spacing[1] <= cfg.water_hole_max_area_mm2)
    if not small.any():
        return
    hole = small[lab]
    total = np.bincount(lab[hole], weights=np.asarray(hu[(*box, k)][hole], dtype=np.float64),
                        minlength=len(count))
    mean = total / np.maximum(count, 1)
    water = small & (mean >= lo) & (mean <= hi)
    if water.any():
        # only the water voxels are written: no strided pass over the whole slice
        a, b = np.nonzero(water[lab])
        out[a + box[0].start, b + box[1].start, k] = True


def _axial_holes(hu: NDArray[Any], sealed: NDArray[np.bool_], spacing: tuple[float, float],
                 cfg: BoneConfig
                 ) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
    """`sealed` with its axial holes filled, its water holes, and every enclosed region.

    Filled: holes up to ``max_hole_area_mm2``; enclosed: every background region of
    a slice not reaching its edge, filled or not. The first step of
    :func:`fill_holes_planes` (axial slices) and :func:`_water_holes` at once: both
    judge the same 4-connected background regions of each slice, labelled here once.
    """
    area_vox = int(cfg.max_hole_area_mm2 / (spacing[0] * spacing[1]))
    big = np.zeros(sealed.shape, dtype=bool)  # enclosed regions too large to fill
    if sealed.size <= _ONE_CALL_MAX_VOXELS:
        filled = _fill_plane_holes(sealed, 2, area_vox, too_big=big)
        return filled, _water_holes(hu, sealed, spacing, cfg), (filled & ~sealed) | big
    filled = np.array(sealed, order="C")
    water = np.zeros(sealed.shape, dtype=bool)
    planes = np.asarray(sealed, order="F")  # once, not per half

    def judge(ks: range) -> None:
        # each slice's regions write only that slice: two halves of the slices at once
        for k, box, lab, inner, count in _plane_holes(planes, 2, ks):
            r0, c0 = box[0].start, box[1].start
            hole = inner & (count <= area_vox)
            if hole.any():
                a, b = np.nonzero(hole[lab])
                filled[a + r0, b + c0, k] = True
            if np.any(inner & ~hole):
                a, b = np.nonzero((inner & ~hole)[lab])
                big[a + r0, b + c0, k] = True
            _mark_water(water, k, box, hu, lab, inner, count, spacing, cfg)

    _in_two(judge, sealed.shape[2])
    return filled, water, (filled & ~sealed) | big


def _major_axis_mm(labels: NDArray[np.integer[Any]], c: int, box: tuple[slice, ...],
                   spacing: tuple[float, float, float]) -> float:
    """IBSI major axis length (4 sqrt of the largest covariance eigenvalue, mm) of `c`."""
    pts = np.argwhere(labels[box] == c).astype(np.float64) * np.asarray(spacing)
    if len(pts) < 2:
        return 0.0
    return float(4.0 * np.sqrt(max(float(np.linalg.eigvalsh(np.cov(pts.T))[-1]), 0.0)))


class _Shell(NamedTuple):
    """A compact component's cortex test (:func:`_cortex_shell`)."""

    contrast_hu: float | None
    inside_cut: bool


def _cortex_shell(hu: NDArray[Any], labels: NDArray[np.integer[Any]], c: int,
                  box: tuple[slice, ...], spacing: tuple[float, float, float],
                  cfg: BoneConfig) -> _Shell:
    """How much denser the shell of component `c` is than its inside, and where its inside is.

    The component is sealed and filled on its own padded box as in step 3 of
    :func:`bone_mask` (in-plane closing of ``close_mm``, holes filled in three
    planes), so sub-threshold marrow counts as its inside. Its *shell* is the
    filled voxels within ``shell_voxels`` voxels of its outside (the cortex with
    its partial-volume blur), its *inside* the rest; the grid's edge is not its
    outside (a bone cut by the field of view shows marrow at the cut, not
    cortex). ``contrast_hu``: the shell's 90th HU percentile minus the inside's
    25th (its less dense quarter: marrow, which in a shaft with a thick cortex
    fills only part of what lies deeper than the shell). Bone holds a cortex
    much denser than its marrow, so this is large; a solid mass (homogeneous, or
    denser at its centre) has a shell no denser than its inside, the
    partial-volume edge less dense, and the two percentiles of a homogeneous
    mass lie about two noise SDs apart. None when the component has
    no inside (a thin plate, a rib's cross-section at coarse voxels): it cannot
    be judged this way. ``inside_cut``: whether the inside reaches the grid's
    edge (the mass itself, not only a thin strand of it, is cut by the field of
    view).
    """
    sx, sy, _ = spacing
    close_r = _radius(cfg.close_mm, sx, sy) if cfg.close_mm > 0 else (0, 0)
    pad = (close_r[0] + 1, close_r[1] + 1, 1)
    shape = labels.shape
    big = tuple(slice(max(b.start - p, 0), min(b.stop + p, n))
                for b, p, n in zip(box, pad, shape, strict=True))
    widths = [(p, p) for p in pad]
    m = np.pad(labels[big] == c, widths)
    h = np.pad(np.asarray(hu[big], dtype=np.float32), widths, mode="edge")
    if close_r != (0, 0):
        m = _square_filter(_square_filter(m, close_r, "max"), close_r, "min") | m
    filled = fill_holes_planes(m, spacing, max_hole_area_mm2=cfg.max_hole_area_mm2)
    # The grid's edge is no outside: the padding there repeats the cut face.
    body = filled.copy()
    cut_faces = []
    for axis, (b, p, n) in enumerate(zip(big, pad, shape, strict=True)):
        for at_edge, face, src in ((b.start == 0, slice(0, p), p), (b.stop == n, slice(-p, None),
                                                                       -p - 1)):
            if at_edge:
                index: list[Any] = [slice(None)] * 3
                index[axis] = face
                body[tuple(index)] = np.expand_dims(filled.take(src, axis=axis), axis)
                index[axis] = src
                cut_faces.append(tuple(index))
    # deeper than the shell: farther than shell_voxels from every voxel outside `body`,
    # as its distance transform gives it (a ball erosion, the same voxels, faster)
    deep = (ball_erosion(body, cfg.shell_voxels) if not body.all()
            else ndi.distance_transform_edt(body) > cfg.shell_voxels)
    shell = filled & ~deep
    inside = filled & deep
    if not inside.any() or not shell.any():
        return _Shell(None, False)
    contrast = float(np.percentile(h[shell], 90) - np.percentile(h[inside], 25))
    return _Shell(contrast, any(bool(inside[f].any()) for f in cut_faces))


def _bone_like(hu: NDArray[Any], labels: NDArray[np.integer[Any]], ids: list[int],
               boxes: Any, spacing: tuple[float, float, float], cfg: BoneConfig,
               *, iodine: bool = True) -> list[int]:
    """Of the large components `ids`, those shaped and placed as bone.

    Anchors: components whose major axis is at least ``bone_min_length_mm``
    (ribs, long bones, vertebrae with their arches, pelvis, skull), or reaching
    the edge of the grid (bone running out of view). Then, repeatedly, every
    other large component within ``joint_gap_mm`` of a taken one (vertebral
    bodies across discs, carpal and tarsal bones, the patella across its joint).
    A compact component (major axis under ``bone_min_length_mm``) is an anchor
    at the edge, or joins across a gap, only when it is built as bone: a cortex
    shell denser than its inside by at least ``dense_tail_hu``
    (:func:`_cortex_shell`), or too thin to have an inside. A solid
    mass, homogeneous or densest at its centre, has no cortex: a deposit lying
    near bone or cut by the field of view, or a contrast-filled bowel loop or
    vessel, not bone. A solid mass cut by the field of view through its inside
    stays an anchor (its nature unknown), unless `iodine` (the study is not known
    to be native) and its median lies in ``iodine_hu`` (:func:`_iodine_median`):
    an enhanced vessel or organ running out of view, its wall plaque or
    calcification within it. What is left is a large compact deposit standing
    apart from the skeleton: a lesion.
    """
    if not ids:
        return []
    shape = labels.shape

    def solid(c: int) -> _Shell | None:
        """The shell test of compact component `c` when it fails (no cortex), else None."""
        shell = _cortex_shell(hu, labels, c, boxes[c], spacing, cfg)
        if shell.contrast_hu is not None and shell.contrast_hu < cfg.dense_tail_hu:
            return shell
        return None

    def anchor(c: int) -> bool | None:
        """Whether `c` is an anchor; None: compact and inside the grid, judged later."""
        box = boxes[c]
        if _major_axis_mm(labels, c, box, spacing) >= cfg.bone_min_length_mm:
            return True
        if any(b.start == 0 or b.stop == n for b, n in zip(box, shape, strict=True)):
            mass = solid(c)
            # a solid mass cut by the field of view through its inside: its nature
            # unknown, unless it is as dense as enhanced blood (a vessel running out)
            return mass is None or (mass.inside_cut and not (
                iodine and _iodine_median(hu, labels, c, box, cfg)))
        return None  # its shell is tested only if it comes within the gap of bone

    # each component judged on its own box: half of them on a second core, in order
    judged = map_split(anchor, list(ids))
    taken: list[int] = [c for c, a in zip(ids, judged, strict=True) if a]
    rest: list[int] = [c for c, a in zip(ids, judged, strict=True) if a is None]
    # Centre to centre, the mineral voxels on either side of a gap lie up to one voxel
    # farther each: a voxel whose centre falls just inside the gap is not mineral, so a
    # 6 mm disc sampled at 1.4 mm can show five sub-threshold slices, 8.4 mm apart.
    reach = cfg.joint_gap_mm + 2.0 * max(spacing)
    gap = [max(1, int(np.ceil(reach / s))) for s in spacing]
    changed = True
    top = int(labels.max()) + 1 if rest else 0
    while rest and changed:
        changed = False
        member = np.zeros(top, dtype=bool)
        member[taken] = True
        for c in list(rest):
            box = tuple(slice(max(b.start - g, 0), min(b.stop + g, n))
                        for b, g, n in zip(boxes[c], gap, shape, strict=True))
            crop = labels[box]
            near = member[crop]
            if not near.any():
                continue
            dist = ndi.distance_transform_edt(crop != c, sampling=spacing)
            if float(dist[near].min()) <= reach:
                rest.remove(c)
                if solid(c) is not None:
                    continue  # a solid mass near bone: a deposit, never joined
                taken.append(c)
                member[c] = True
                changed = True
    return sorted(taken)


def _iodine_median(hu: NDArray[Any], labels: NDArray[np.integer[Any]], c: int,
                   box: tuple[slice, ...], cfg: BoneConfig) -> bool:
    """Whether component `c`'s median HU lies in ``iodine_hu`` (enhanced blood and organs).

    Asked of a solid mass cut by the field of view (:func:`_bone_like`): one as dense
    as enhanced blood is a vessel or organ running out of view, with its wall plaque
    or calcification (a calcified splenic artery cut by the first slice), not a bone,
    whose cortex is denser than its inside (:func:`_cortex_shell`).
    """
    lo, hi = cfg.iodine_hu
    median = float(np.median(np.asarray(hu[box])[labels[box] == c]))
    return bool(lo <= median <= hi)


def _cut_off(hu: NDArray[Any], comp: NDArray[np.bool_], carved: NDArray[np.bool_], vv: float,
             cfg: BoneConfig) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """The skeleton's mineral that the lumens leaving it cut off in pieces too small to be bone.

    `comp` is the skeleton components' mineral once the lumens have left it (step 2b
    of :func:`bone_mask`), `carved` the mineral they took. A 26-connected piece of
    `comp` that touches `carved` and holds less than ``min_volume_mm3`` was joined to
    the skeleton only through the lumen (the wall of a vessel branching off the aorta,
    a plaque on the lumen's far side): it is no skeleton, as a component left so small
    is not (step 2b). Returned apart: the pieces peaking ``dense_tail_hu`` or more above
    the carved mineral's median (the plaque margin over the lumen's own density), whose
    mineral is a deposit, and the fainter ones, the lumen's own (an enhanced branch, its
    partial-volume wall), which leave the mineral as the lumen does.
    """
    none = np.zeros_like(comp)
    pieces, n = cc3d.connected_components(comp, connectivity=26, return_N=True)
    if n < 2 or not carved.any():
        return none, none
    # the pieces' sizes from their own voxels (label 0, the rest, is never small)
    size = np.bincount(pieces[comp], minlength=n + 1) * vv
    touch = np.bincount(pieces[box_filter(carved, (1, 1, 1), "max") & comp],
                        minlength=n + 1) > 0
    small = (size < cfg.min_volume_mm3) & touch
    small[0] = False
    if not small.any():
        return none, none
    h = np.asarray(hu)
    at = small[pieces]
    at_lab = pieces[at]
    peak = np.full(n + 1, -np.inf)
    np.maximum.at(peak, at_lab, h[at])
    dense = small & (peak >= float(np.median(h[carved])) + cfg.dense_tail_hu)
    # placed at the small pieces' voxels only, the rest stays False
    dense_at = dense[at_lab]
    out_dense, out_faint = np.zeros_like(comp), np.zeros_like(comp)
    out_dense[at] = dense_at
    out_faint[at] = ~dense_at
    return out_dense, out_faint


def _long_or_cut(boxes: Any, n: int, sz: float, cfg: BoneConfig,
                 offset: NDArray[Any], shape: tuple[int, ...]) -> NDArray[np.bool_]:
    """Per part 0..n of a crop at `offset` of a grid of `shape`: bone, not a deposit.

    `boxes` are the parts' bounding boxes in the crop (``cc3d.statistics``).

    A part is bone when it runs over ``deposit_max_mm`` along the slices (centre
    to centre of its first and last slice, so a compact deposit seen on three
    5 mm slices, 10 mm, stays one, while an arch, a facet or a rib edge cut off
    the core and followed over many slices is bone), or when it reaches the
    edge of the grid: cut by the field of view, its length is unknown, as a
    bone running out of view is taken in :func:`_bone_like`.
    """
    long = np.zeros(n + 1, dtype=bool)
    for c, box in enumerate(boxes):
        if not c or box is None:
            continue
        edge = any(o + b.start == 0 or o + b.stop == m
                   for b, o, m in zip(box, offset, shape, strict=True))
        long[c] = edge or (box[2].stop - box[2].start - 1) * sz > cfg.deposit_max_mm
    return long


def _unresolved_across_slices(boxes: Any, n: int, sz: float, cfg: BoneConfig
                              ) -> NDArray[np.bool_]:
    """Per part 0..n off the core: seen on one slice of a grid whose slices are thick.

    On slices spaced more than ``core_mm`` apart, a part off the core seen on a
    single slice is the bone's surface cut within that slab (the inner table of the
    skull under a 5 mm slice near the vertex or the skull base): the slab averages
    the bone with what lies beyond it, and the blend spreads in-plane as far as
    the surface runs inside the slab (slice thickness over the tangent of its
    angle to the slice), well past the one-voxel rim. A deposit's own edge along
    the slices cannot be told from that blend on one slice, so such a part is
    bone; a deposit seen on two slices or more is still judged as a deposit.
    `boxes` are the parts' bounding boxes (``cc3d.statistics``).
    """
    out = np.zeros(n + 1, dtype=bool)
    if sz <= cfg.core_mm:
        return out
    for c, box in enumerate(boxes):
        if c and box is not None:
            out[c] = box[2].stop - box[2].start == 1
    return out


class ComponentBoxes(NamedTuple):
    """Voxel counts and bounding boxes of labelled components 0..n.

    ``counts[c]`` voxels; component `c` lies in ``lo[c] <= ijk < hi[c]`` (any
    values where ``counts[c]`` is 0), as ``cc3d.statistics`` gives them.
    """

    counts: NDArray[np.int64]
    lo: NDArray[np.int64]
    hi: NDArray[np.int64]
    hu: NDArray[Any] | None = None
    start: NDArray[np.int64] | None = None

    def quantiles(self, ids: list[int]) -> NDArray[np.float64]:
        """As :func:`_component_quantiles`, from the components' HU given in ``hu``.

        ``hu`` holds the HU of every component's voxels, component `c`'s ``counts[c]``
        from ``start[c]`` on (None: not given).
        """
        if self.hu is None or self.start is None:
            raise ValueError("ComponentBoxes.quantiles needs the components' HU and starts")
        return np.array([
            _quantiles(np.sort(np.asarray(self.hu[a:a + n], dtype=np.float32)))
            for a, n in ((int(self.start[c]), int(self.counts[c])) for c in ids)
        ]).reshape(len(ids), 4)

    def box(self, c: int) -> tuple[slice, slice, slice]:
        """Component `c`'s bounding box as slices."""
        (a0, a1, a2), (b0, b1, b2) = self.lo[c], self.hi[c]
        return slice(int(a0), int(b0)), slice(int(a1), int(b1)), slice(int(a2), int(b2))


def _part_stats(labels: NDArray[np.integer[Any]], n: int, at: NDArray[np.intp],
                at_lab: NDArray[np.integer[Any]]
                ) -> tuple[NDArray[np.int64], list[tuple[slice, slice, slice]]]:
    """Voxel counts and bounding boxes of labels 0..n, as ``cc3d.statistics`` gives them.

    Found from the labelled voxels (flat C-order indices `at`, labels `at_lab`, every
    label 1..n present) instead of a pass over the whole array; label 0 (the
    background) from the array's faces inward.
    """
    counts = np.bincount(at_lab, minlength=n + 1).astype(np.int64)
    counts[0] = labels.size - len(at)
    boxes: list[tuple[slice, slice, slice]] = []
    extent: list[slice] = []
    for axis, size in enumerate(labels.shape):
        planes = np.moveaxis(labels, axis, 0)
        first = next((i for i in range(size) if not planes[i].all()), 0)
        last = next((i for i in range(size - 1, -1, -1) if not planes[i].all()), -1)
        extent.append(slice(first, last + 1))
    boxes.append((extent[0], extent[1], extent[2]))
    if n:
        order = np.argsort(at_lab, kind="stable")
        starts = np.searchsorted(at_lab[order], np.arange(1, n + 1))
        coords = np.unravel_index(at[order], labels.shape)
        lo = [np.minimum.reduceat(c, starts) for c in coords]
        hi = [np.maximum.reduceat(c, starts) + 1 for c in coords]
        boxes += [(slice(int(lo[0][c]), int(hi[0][c])), slice(int(lo[1][c]), int(hi[1][c])),
                   slice(int(lo[2][c]), int(hi[2][c]))) for c in range(n)]
    return counts, boxes


def _or_at(mask: NDArray[np.bool_], at: NDArray[np.intp], values: NDArray[np.bool_]
           ) -> NDArray[np.bool_]:
    """`mask` (C-ordered copy) with ``values`` OR-ed in at the flat C-order indices `at`."""
    out = np.array(mask, dtype=bool, order="C")
    flat = out.reshape(-1)
    flat[at] |= values
    return out


def _box_on_crop(offset: tuple[int, int, int], mask: NDArray[np.bool_],
                 lo: NDArray[np.integer[Any]], shape: tuple[int, ...]) -> NDArray[np.bool_]:
    """`mask` (a box starting at full-grid index `offset`) on the crop starting at `lo`."""
    out = np.zeros(shape, dtype=bool)
    src, dst = [], []
    for o, m, a, n in zip(offset, mask.shape, lo, shape, strict=True):
        start, stop = max(int(o), int(a)), min(int(o) + m, int(a) + n)
        if stop <= start:
            return out
        src.append(slice(start - int(o), stop - int(o)))
        dst.append(slice(start - int(a), stop - int(a)))
    out[tuple(dst)] = mask[tuple(src)]
    return out


def _empty() -> BoneResult:
    e = np.zeros((0, 0, 0), dtype=bool)
    return BoneResult((), (0, 0, 0), e, e, np.zeros((0, 0, 0), np.uint32), e, 0.0)


def bone_mask(
    hu: NDArray[Any],
    spacing_mm: tuple[float, float, float],
    *,
    config: BoneConfig | None = None,
    body: NDArray[np.bool_] | None = None,
    exclude: NDArray[np.bool_] | None = None,
    mineral_labels: NDArray[np.integer[Any]] | None = None,
    mineral_boxes: ComponentBoxes | None = None,
    noise_sd_hu: float | None = None,
    enhanced: bool | None = None,
    blood_lumen: LumenMask | None = None,
    cartilage_site: CartilageSite | None = None,
    implant_cavity: tuple[tuple[int, int, int], NDArray[np.bool_]] | None = None,
) -> BoneResult:
    """Find the skeleton: large mineral components, sealed and filled.

    Parameters
    ----------
    hu : (I, J, K) ndarray of int16 or float
        CT in HU; axis 2 is the slice axis.
    spacing_mm : tuple of float
        Voxel size (mm) along I, J, K.
    config : BoneConfig, optional
        Thresholds and sizes; defaults when omitted.
    body : (I, J, K) ndarray of bool, optional
        Inside the patient; mineral outside it (table, cushions) is ignored.
    exclude : (I, J, K) ndarray of bool, optional
        Voxels never taken as bone (enhancing lumens found beforehand).
    mineral_labels : (I, J, K) ndarray of int, optional
        26-connected components of the mineral (HU >= ``mineral_hu``, in `body`,
        outside `exclude`) when the caller has them already; computed otherwise.
    mineral_boxes : ComponentBoxes, optional
        With `mineral_labels`: their voxel counts and bounding boxes when the
        caller has them (the same as ``cc3d.statistics`` of the labels, so the
        whole grid is not scanned again), and, when it holds them, their voxels'
        HU (for the components' percentiles); computed otherwise.
    noise_sd_hu : float, optional
        Image noise SD (HU; :func:`calcdx.lesions.noise.noise_sd_hu`). When given,
        a large component whose spread is that noise (a homogeneous region,
        ``homogeneous_max_noise_sd``) is not bone.
    enhanced : bool, optional
        Whether the study is contrast-enhanced (:mod:`calcdx.masks.contrast`).
        False skips the iodine rules of steps 2 and 2b: a native study has no
        enhanced lumen or organ, so smooth marrow in the iodine range (a vertebral
        body's at thin voxels, about 250 HU, or a whole bone with a faint cortex)
        is not taken for one. None (not known) applies them.
    blood_lumen : LumenMask, optional
        The enhanced lumen continuous with the blood pool
        (:func:`calcdx.masks.lumen.blood_pool_lumen`), found before the skeleton: it
        leaves the mineral before sealing and filling on any grid (step 2b), and a
        component left with less than ``min_volume_mm3`` is no longer skeleton.
    cartilage_site : CartilageSite, optional
        Where costal cartilage may lie (the trunk's anterior outer shell,
        :func:`calcdx.masks.ribcart.cartilage_site`): step 3b then also takes out the
        parts built as calcified cartilage there (:func:`calcdx.masks.ribcart.granular_parts`).
        None: only its distance rule applies.
    implant_cavity : (offset, (A, B, C) ndarray of bool), optional
        Voxels an implant's metal encloses that hold no bone (the liner between a
        hip's head and cup, :func:`calcdx.masks.metal.implant_cavities`), on a box
        starting at full-grid index `offset`: never filled as marrow.

    Returns
    -------
    BoneResult

    Raises
    ------
    InputError
        `hu` is not 3-D, or a mask's shape differs from it, or a spacing is not
        positive.
    """
    cfg = config or BoneConfig()
    if hu.ndim != 3:
        raise InputError(f"bone_mask needs a 3-D HU array, got {hu.ndim}-D; pass (I, J, K)")
    for name, m in (("body", body), ("exclude", exclude), ("mineral_labels", mineral_labels)):
        if m is not None and m.shape != hu.shape:
            raise InputError(f"{name} has shape {m.shape}, the HU array {hu.shape}; "
                             "pass masks on the same grid")
    if len(spacing_mm) != 3 or min(spacing_mm) <= 0:
        raise InputError(f"spacing_mm must be three positive lengths, got {spacing_mm}")
    sx, sy, sz = (float(s) for s in spacing_mm)
    vv = sx * sy * sz
    if mineral_labels is None:
        mineral = np.asarray(hu >= cfg.mineral_hu)
        if body is not None:
            mineral &= body
        if exclude is not None:
            mineral &= ~exclude
        mineral_labels = cc3d.connected_components(mineral, connectivity=26)
        del mineral
        mineral_boxes = None
    if mineral_boxes is None:
        stats = cc3d.statistics(mineral_labels)
        counts = np.asarray(stats["voxel_counts"], dtype=np.int64)
        chosen = counts * vv >= cfg.min_volume_mm3
        chosen[0] = False
        box_of = {int(c): stats["bounding_boxes"][c] for c in np.flatnonzero(chosen)}
        del stats
    else:
        counts = np.asarray(mineral_boxes.counts, dtype=np.int64)
        chosen = counts * vv >= cfg.min_volume_mm3
        chosen[0] = False
        box_of = {int(c): mineral_boxes.box(int(c)) for c in np.flatnonzero(chosen)}
    ids = _bone_like(hu, mineral_labels, sorted(box_of), box_of, (sx, sy, sz), cfg,
                     iodine=enhanced is not False)
    if not ids:
        return _empty()
    quantiles = (mineral_boxes.quantiles(ids)
                 if mineral_boxes is not None and mineral_boxes.hu is not None
                 else _component_quantiles(hu, mineral_labels, ids))
    smooth = (_smooth_iodine(quantiles, cfg) if enhanced is not False
              else [False] * len(ids))
    homogeneous = (_homogeneous(quantiles, noise_sd_hu, cfg)
                   if noise_sd_hu is not None and noise_sd_hu > 0 else [False] * len(ids))
    ids = [c for c, sm, hom in zip(ids, smooth, homogeneous, strict=True)
           if not hom and not (sm and _thick(mineral_labels, c, box_of[c],
                                             (sx, sy), cfg.lumen_min_radius_mm))]
    if not ids:
        return _empty()
    close_r = _radius(cfg.close_mm, sx, sy) if cfg.close_mm > 0 else (0, 0)
    core_r = _radius(cfg.core_mm, sx, sy)
    pad = np.array([max(close_r[0], core_r[0]) + 1, max(close_r[1], core_r[1]) + 1, 1])
    boxes = [box_of[c] for c in ids]
    lo = np.maximum(np.min([[s.start for s in b] for b in boxes], axis=0) - pad, 0)
    hi = np.minimum(np.max([[s.stop for s in b] for b in boxes], axis=0) + pad, hu.shape)
    crop = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    lab_c = mineral_labels[crop]
    member = np.zeros(int(counts.size), dtype=bool)
    member[ids] = True
    comp = member[lab_c]
    # The lumen continuous with the blood pool, found before the skeleton (any grid).
    lumen = (np.zeros_like(comp) if blood_lumen is None or enhanced is False
             else blood_lumen.on_box(lo, hi) & comp)
    if max(sx, sy) <= cfg.lumen_max_voxel_mm and enhanced is not False:
        # Enhanced lumens touching bone leave the mineral before sealing and filling,
        # so they can neither bridge to bone nor be filled as marrow.
        lumen |= _lumens(hu[crop], comp, (sx, sy, sz), cfg)
    if lumen.any():
        carved = comp & lumen
        comp &= ~lumen
        left = np.bincount(lab_c[comp], minlength=int(counts.size))
        gone = [c for c in ids if left[c] * vv < cfg.min_volume_mm3]
        if gone:
            member[gone] = False
            ids = [c for c in ids if c not in set(gone)]
            comp &= member[lab_c]
            if not ids:
                return _empty()
        cut_off, faint = _cut_off(hu[crop], comp, carved, vv, cfg)
        comp &= ~(cut_off | faint)
        del carved, faint
    else:
        cut_off = np.zeros_like(comp)
    del lab_c
    # Seal the cortex in-plane, then fill marrow in three planes and in 3-D.
    sealed = comp
    if close_r != (0, 0):
        sealed = _square_filter(_square_filter(comp, close_r, "max"), close_r, "min") | comp
    axial, canal, enclosed = _axial_holes(hu[crop], sealed, (sx, sy), cfg)
    # the canal's test reads only `sealed` and the holes: on a second core meanwhile
    canal_job = submit(_open_to_tissue, canal, sealed, enclosed)
    cavity = _cavities(enclosed, axial)
    del canal, enclosed
    left_open = np.zeros_like(axial)  # holes of the last planes too large to fill
    filled = fill_holes_planes(axial, (sx, sy, sz), max_hole_area_mm2=cfg.max_hole_area_mm2,
                               axes=(0, 1), too_big=left_open)
    del sealed
    filled = _fill_3d_within(filled, left_open, 1, int(cfg.max_hole_volume_mm3 / vv))
    del left_open
    canal = canal_job.result()
    del canal_job
    canal |= _canal_run_on(hu[crop], filled & ~axial, canal, cfg)
    del axial
    filled &= ~(lumen | canal | cavity)
    del canal, cavity
    if implant_cavity is not None:
        filled &= ~_box_on_crop(*implant_cavity, lo, filled.shape)
    cartilage = np.zeros_like(filled)
    if max(sx, sy) <= cfg.lumen_max_voxel_mm:
        # Only where the voxels resolve cortex (as for lumens): at 3 mm it blurs under
        # mineral_hu + dense_tail_hu and every bone would look cortex-less. Cortex-less
        # parts, and parts built as calcified cartilage, granules and bands in them
        # (calcdx.masks.ribcart): a dense granule is no rib's cortex. Both read only
        # `filled` and the HU: at once on two cores (calcdx._threads).
        cartilage, granular = run_both(
            partial(_cortexless, hu[crop], filled, (sx, sy, sz), cfg),
            partial(granular_parts, hu[crop], filled, (sx, sy, sz), cfg, site=cartilage_site,
                    offset=(int(lo[0]), int(lo[1]), int(lo[2]))))
        cartilage |= granular
        del granular
        filled &= ~cartilage
    # Deposits on the cortex: thin parts outside the core grown back by one voxel.
    core = _square_filter(_square_filter(filled, core_r, "min"), core_r, "max") & filled
    bone = _square_filter(core, (1, 1), "max") & filled
    del core
    rest = filled & ~bone
    deposits = np.zeros_like(filled)
    if rest.any():
        rest_lab, n_rest = cc3d.connected_components(rest, connectivity=26, return_N=True)
        # The parts' voxels (flat, C order) and labels: their counts and boxes come from
        # them, and a per-part flag placed on the crop is written at these voxels only.
        at = np.flatnonzero(rest_lab)
        at_lab = rest_lab.ravel()[at]
        counts, rest_boxes = _part_stats(rest_lab, int(n_rest), at, at_lab)
        size = counts * vv
        extent = np.zeros(n_rest + 1)
        for c, box in enumerate(rest_boxes):
            if c and box is not None:
                extent[c] = max((box[0].stop - box[0].start) * sx,
                                (box[1].stop - box[1].start) * sy)
        big = (size >= cfg.min_volume_mm3) | (extent > cfg.deposit_max_mm)
        big |= _long_or_cut(rest_boxes, n_rest, sz, cfg, lo, hu.shape)
        big |= _unresolved_across_slices(rest_boxes, n_rest, sz, cfg)
        if min(core_r) < 2:
            big[:] = True  # a one-voxel core cannot tell a deposit from a thin process
        big[0] = False
        if not big[1:].all():
            big |= _across_slices(rest_lab, _or_at(bone, at, big[at_lab]), at)
            big |= _in_outline(rest_lab, rest_boxes, _or_at(bone, at, big[at_lab]), ~big,
                               (sx, sy), 2.0 * cfg.core_mm)
            big |= _borders_air(rest_lab, rest_boxes, ~big, hu[crop], cfg)
        small = ~big
        small[0] = False
        comp_at = comp.ravel()[at]
        deposits = _or_at(deposits, at, small[at_lab] & comp_at)
        # Its voxels under the threshold (sealing between deposit and cortex) are bone.
        bone = _or_at(bone, at, big[at_lab] | (small[at_lab] & ~comp_at))
        del rest_lab, at, at_lab, comp_at
    del rest, filled
    # Deposits wider than the core, standing proud of a bone with its cortex beneath.
    proud = _proud_deposits(hu[crop], bone, (sx, sy, sz), cfg)
    if proud.any():
        bone &= ~proud
        deposits |= proud & comp
    # Pieces the lumens cut off (step 2b): their mineral is a deposit.
    bone &= ~cut_off
    deposits |= cut_off
    # Step 3b's cortex-less parts: their mineral is a deposit (costal cartilage).
    deposits |= cartilage & comp
    cartilage &= comp
    del comp, proud
    # the rim and the separate bones both read only `bone`: at once on two cores
    exclusion, bone_labels = run_both(
        lambda: box_filter(bone, (1, 1, 1), "max"),
        lambda: cc3d.connected_components(bone, connectivity=6).astype(np.uint32, copy=False))
    return BoneResult(
        component_ids=tuple(ids),
        offset=(int(lo[0]), int(lo[1]), int(lo[2])),
        filled=bone,
        exclusion=exclusion,
        bone_labels=bone_labels,
        deposits=deposits,
        volume_mm3=float(np.count_nonzero(bone)) * vv,
        cartilage=cartilage,
    )
