"""Calcified costal cartilage split off the rib it joins, from the image alone.

A rib is cortex round marrow: a shell of compact bone about 1 mm thick (sixth
ribs: mid-rib maxima of 0.9-2.6 mm on the pleural aspect, 1.4 mm on average;
Holcombe et al., J Anat 2019;235:883-891) round cancellous bone, the whole
section about 12 x 6 mm. Its costal cartilage continues it from the anterior
end toward the sternum, and calcifies not as a shell but in patches: granules,
or bands along its margins in men and a central tongue in women (Navani, Shah,
Levy, AJR 1970;108:771-774; qualitative). So a calcified cartilage may hold
voxels as dense as cortex (its granules and marginal bands), which is why the
distance rule of :func:`calcdx.masks.bone._cortexless` (farther than
``cortex_reach_mm`` from any cortex-dense voxel) keeps most of it with the rib:
a granule in the bar is "cortex" within reach of all the cartilage round it.

What tells them apart is how much of the bone round a voxel is cortex-dense.
In a rib, a window spanning its thickness holds both cortices, a large share
of its voxels: for a 12 x 6 mm section under a 1 mm cortex the cortex is
1 - (10 x 4) / (12 x 6) = 44 % of the section. In a calcified cartilage the
dense granules and bands are a small share of the bar's mineral.

:func:`granular_parts` (every criterion needed, each value in
:class:`calcdx.masks.bone.BoneConfig`):

1. *little cortex round it*: of the filled skeleton's voxels within a cube of
   half-width ``cartilage_window_mm`` (a rib's half-thickness, so the window on
   any rib voxel spans the rib and holds its cortices), under
   ``min_cortex_share`` are cortex-dense (the cortex level of step 3b: at least
   ``mineral_hu + dense_tail_hu``, or an osteopenic skeleton's densest tenth);
2. *a part in soft tissue*: such voxels form a 26-connected part of at least
   ``min_volume_mm3`` (as step 3b: smaller parts are judged by step 4) whose
   in-plane border lies at least half outside the skeleton (the wide marrow of a
   vertebral body or a femoral head is enclosed by its bone and stays bone);
3. *a bar, not a bulk*: no voxel of the part lies ``lumen_min_radius_mm`` or
   farther in-plane from its outside (a cartilage is about as thick as its
   rib, at most about 10 mm; a wider smooth region taken into the skeleton is an
   enhanced lumen or organ, as step 2's thickness rule);
4. *where the costal cartilages are*: most of its voxels lie in the trunk's
   anterior outer shell (:func:`cartilage_site`, from the body mask and the
   affine: the front half of the body's antero-posterior depth at its level and
   the outer half of the body's deepest skin distance there, the
   ``min_anterior_fraction`` and ``max_wall_depth_fraction`` of
   :class:`calcdx.measure.costal.CostalConfig`). The rule is read only in the
   box of the site's cells widened by a window and a voxel, and a part running
   on beyond that box is not taken (it is not mostly in the site). Without a
   site (no body or affine known) the rule is not applied;
5. *its granules with it*: a piece of the skeleton left under ``min_volume_mm3``
   once the parts are taken out, touching them, is a dense granule or band of the
   cartilage (bone is never a small fragment embedded in cartilage: the rib it
   joins runs on to the spine) and leaves with them.

The caller (:func:`calcdx.masks.bone.bone_mask`, step 3b) applies it only
where the in-plane voxels resolve cortex (up to ``lumen_max_voxel_mm``), as
step 3b's distance rule. The parts are returned, as step 3b's, in
:attr:`calcdx.masks.bone.BoneResult.cartilage`; whether a part is costal
cartilage (trunk levels, the anterior chest wall, a bar running toward the
sternum) is read by :mod:`calcdx.measure.costal` from where it lies.
Every size is in mm or mm^3, turned into voxels for the grid at hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import cc3d
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi

from calcdx.masks._filters import box_filter
from calcdx.masks.body import BodyMask
from calcdx.masks.grid import CoarseGrid

__all__ = ["CartilageSite", "cartilage_site", "cortex_level_hu", "cortex_share",
           "granular_parts"]


class _Config(Protocol):
    """The :class:`calcdx.masks.bone.BoneConfig` fields this module reads."""

    @property
    def mineral_hu(self) -> float: ...
    @property
    def dense_tail_hu(self) -> float: ...
    @property
    def min_volume_mm3(self) -> float: ...
    @property
    def cartilage_window_mm(self) -> float: ...
    @property
    def min_cortex_share(self) -> float: ...
    @property
    def lumen_min_radius_mm(self) -> float: ...


@dataclass(frozen=True)
class CartilageSite:
    """Where costal cartilage may lie: the trunk's anterior outer shell, on coarse cells.

    Attributes
    ----------
    grid : CoarseGrid
        The body's coarse grid (:class:`calcdx.masks.body.BodyMask`).
    coarse : ndarray of bool, shape ``grid.shape``
        True in the site.
    """

    grid: CoarseGrid
    coarse: NDArray[np.bool_]

    def contains(self, ijk: NDArray[np.integer[Any]]) -> NDArray[np.bool_]:
        """Whether full-grid voxels ``ijk`` ((N, 3) int) lie in the site; (N,) bool."""
        pts = np.asarray(ijk)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise ValueError(f"ijk must be an (N, 3) array of voxel indices, got shape "
                             f"{pts.shape}")
        c = self.grid.to_coarse(pts)
        return np.asarray(self.coarse[c[:, 0], c[:, 1], c[:, 2]], dtype=bool)


def cartilage_site(body: BodyMask, affine: NDArray[np.float64], *,
                   min_anterior_fraction: float, max_depth_fraction: float) -> CartilageSite:
    """The trunk's anterior outer shell, where the costal cartilages lie.

    Per plane of the body's coarse grid across the axis nearest the body's
    cranio-caudal one (a level): the body cells in the front part of the body's
    antero-posterior (RAS+ y) extent at that level, at least
    `min_anterior_fraction` of the way from its back to its front, and no deeper
    below the skin than `max_depth_fraction` of the level's deepest skin distance
    (the ribs and their cartilages form the trunk's outer shell; the heart, the
    great vessels, the spine and the viscera lie in its inner half).

    Parameters
    ----------
    body : BodyMask
    affine : (4, 4) ndarray
        Voxel-to-RAS+ affine (mm) of the full grid.
    min_anterior_fraction : float
        0 back, 1 front.
    max_depth_fraction : float
        Share of the level's deepest skin distance.

    Returns
    -------
    CartilageSite
    """
    a = np.asarray(affine, dtype=np.float64)
    grid = body.grid
    site = np.zeros(grid.shape, dtype=bool)
    cells = np.argwhere(body.coarse)
    if not cells.size:
        return CartilageSite(grid=grid, coarse=site)
    f = np.asarray(grid.factors)
    world = (cells * f + f // 2) @ a[:3, :3].T + a[:3, 3]
    axis = int(np.argmax(np.abs(a[2, :3])))  # the voxel axis nearest superior
    skin = body.skin_distance_mm[tuple(cells.T)]
    level = cells[:, axis]
    order = np.argsort(level, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(level[order]) != 0])
    for lo, hi in zip(starts, np.r_[starts[1:], len(order)], strict=True):
        at = order[lo:hi]
        y = world[at, 1]
        back, front = float(y.min()), float(y.max())
        if front <= back:
            continue
        ok = ((y - back) / (front - back) >= min_anterior_fraction) & (
            skin[at] <= max_depth_fraction * float(skin[at].max()))
        site[tuple(cells[at[ok]].T)] = True
    return CartilageSite(grid=grid, coarse=site)


def cortex_level_hu(hu: NDArray[Any], filled: NDArray[np.bool_], cfg: _Config) -> float | None:
    """The cortex level (HU): ``mineral_hu + dense_tail_hu``, or the mineral's 90th percentile.

    The lower of the two, so an osteopenic skeleton's densest tenth is its cortex
    (the level of :func:`calcdx.masks.bone._cortexless`); None without mineral in
    `filled`.
    """
    mineral = filled & (np.asarray(hu) >= cfg.mineral_hu)
    if not mineral.any():
        return None
    return min(cfg.mineral_hu + cfg.dense_tail_hu,
               float(np.percentile(np.asarray(hu)[mineral], 90)))


def _blocks(window_mm: float, spacing_mm: tuple[float, float, float]) -> list[int]:
    """Voxels per block along each axis: about a fifth of `window_mm`, at least one."""
    return [max(1, int(window_mm / (5.0 * s))) for s in spacing_mm]


def _block_share(hu: NDArray[Any], filled: NDArray[np.bool_],
                 spacing_mm: tuple[float, float, float], window_mm: float, level_hu: float
                 ) -> NDArray[np.float32]:
    """:func:`cortex_share` on the blocks (see there), before it is spread to the voxels."""
    block = _blocks(window_mm, spacing_mm)

    def counts(mask: NDArray[np.bool_]) -> NDArray[np.float32]:
        out: NDArray[Any] = np.asarray(mask, dtype=np.uint16 if max(block) > 1 else np.float32)
        for axis, f in enumerate(block):
            if f > 1:  # block sums; the last block of an axis may be shorter
                out = np.add.reduceat(out, np.arange(0, out.shape[axis], f), axis=axis,
                                      dtype=np.uint16)
        return np.asarray(out, dtype=np.float32)

    size = [2 * max(1, round(window_mm / (f * s))) + 1
            for f, s in zip(block, spacing_mm, strict=True)]
    f_all = ndi.uniform_filter(counts(filled), size, mode="constant")
    f_dense = ndi.uniform_filter(counts(np.asarray(filled) & (np.asarray(hu) >= level_hu)),
                                 size, mode="constant")
    return np.where(f_all > 1e-6, f_dense / np.maximum(f_all, 1e-6), 0.0).astype(np.float32)


def _spread(blocks: NDArray[Any], block: list[int], shape: tuple[int, ...]) -> NDArray[Any]:
    """Per-block values repeated onto the voxels of an array of `shape`."""
    out = blocks
    for axis, f in enumerate(block):
        if f > 1:
            out = np.repeat(out, f, axis=axis)
    return out[: shape[0], : shape[1], : shape[2]]


def cortex_share(hu: NDArray[Any], filled: NDArray[np.bool_],
                 spacing_mm: tuple[float, float, float], *, window_mm: float,
                 level_hu: float) -> NDArray[np.float32]:
    """Share of the skeleton's voxels near each voxel that are cortex-dense.

    Parameters
    ----------
    hu : (I, J, K) ndarray
        CT in HU.
    filled : (I, J, K) ndarray of bool
        The filled skeleton (cortex and marrow).
    spacing_mm : tuple of float
        Voxel size (mm).
    window_mm : float
        Half-width (mm) of the cube the share is read over (at least one block).
    level_hu : float
        Cortex level (HU).

    Returns
    -------
    (I, J, K) ndarray of float32
        Per voxel: voxels of `filled` at or above `level_hu` over voxels of
        `filled`, within the cube (0 where the cube holds none of `filled`). Along
        an axis finer than a fifth of `window_mm` (thin slices) voxels are counted
        in blocks of about that length and the cube is read between blocks (a
        rule of millimetres, not of voxels: the same share give or take a block),
        as :func:`calcdx.masks.bone._cortexless` measures its distances.
    """
    share = _block_share(hu, filled, spacing_mm, window_mm, level_hu)
    return np.asarray(_spread(share, _blocks(window_mm, spacing_mm), filled.shape),
                      dtype=np.float32)


def _site_box(site: CartilageSite, shape: tuple[int, ...], offset: tuple[int, int, int],
              margin: list[int]) -> tuple[slice, slice, slice] | None:
    """The box of an array at `offset` holding the site's cells, widened by `margin` voxels."""
    cells = np.argwhere(site.coarse)
    if not cells.size:
        return None
    f = np.asarray(site.grid.factors)
    lo = cells.min(axis=0) * f - np.asarray(offset) - np.asarray(margin)
    hi = (cells.max(axis=0) + 1) * f - np.asarray(offset) + np.asarray(margin)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, np.asarray(shape))
    if np.any(hi <= lo):
        return None
    return (slice(int(lo[0]), int(hi[0])), slice(int(lo[1]), int(hi[1])),
            slice(int(lo[2]), int(hi[2])))


def _border_mostly_outside(part: NDArray[np.bool_], filled: NDArray[np.bool_]) -> bool:
    """Whether at least half of `part`'s in-plane border (8-neighbours) is outside `filled`."""
    border = box_filter(part, (1, 1, 0), "max") & ~part
    n = int(np.count_nonzero(border))
    return int(np.count_nonzero(border & ~filled)) >= 0.5 * max(n, 1)


def granular_parts(hu: NDArray[Any], filled: NDArray[np.bool_],
                   spacing_mm: tuple[float, float, float], cfg: _Config, *,
                   site: CartilageSite | None, offset: tuple[int, int, int] = (0, 0, 0)
                   ) -> NDArray[np.bool_]:
    """Parts of the filled skeleton built as calcified cartilage, not as bone (module rule).

    Parameters
    ----------
    hu : (I, J, K) ndarray
        CT in HU (the crop of `filled`).
    filled : (I, J, K) ndarray of bool
        The filled skeleton.
    spacing_mm : tuple of float
        Voxel size (mm).
    cfg : BoneConfig
        ``cartilage_window_mm``, ``min_cortex_share``, ``min_volume_mm3``,
        ``lumen_min_radius_mm`` and the cortex level's ``mineral_hu`` and
        ``dense_tail_hu``.
    site : CartilageSite or None
        Where costal cartilage may lie (:func:`cartilage_site`); None: nowhere known,
        no part is returned.
    offset : tuple of int
        Full-grid index of the arrays' ``[0, 0, 0]`` (they may be a crop).

    Returns
    -------
    (I, J, K) ndarray of bool
        The parts (criteria 1-4 of the module) and the small pieces of the skeleton
        they leave behind against them (criterion 5).
    """
    out = np.zeros(filled.shape, dtype=bool)
    level = cortex_level_hu(hu, filled, cfg) if site is not None else None
    if level is None or site is None:
        return out
    # only about the site: the parts must lie mostly in it
    block = _blocks(cfg.cartilage_window_mm, spacing_mm)
    margin = [int(np.ceil(cfg.cartilage_window_mm / s)) + 1 for s in spacing_mm]
    sub = _site_box(site, filled.shape, offset, margin)
    if sub is None:
        return out
    h, fill = hu[sub], filled[sub]
    origin = np.asarray([s.start for s in sub]) + np.asarray(offset)
    share = _block_share(h, fill, spacing_mm, cfg.cartilage_window_mm, level)
    low = fill & _spread(share < cfg.min_cortex_share, block, fill.shape)
    del share
    if not low.any():
        return out
    vv = float(np.prod(spacing_mm))
    found = np.zeros(fill.shape, dtype=bool)
    parts, n_parts = cc3d.connected_components(low, connectivity=26, return_N=True)
    del low
    from calcdx.masks.bone import _part_stats  # bone imports this module

    # counts and boxes from the parts' voxels, as cc3d.statistics gives them (faster)
    at = np.flatnonzero(parts)
    counts, part_boxes = _part_stats(parts, int(n_parts), at, parts.ravel()[at])
    del at
    # a part the box cuts runs on beyond the site's extent: not mostly in it
    cut = np.zeros(int(n_parts) + 1, dtype=bool)
    for axis in range(3):
        for face, inside in ((0, sub[axis].start > 0),
                             (-1, sub[axis].stop < filled.shape[axis])):
            if inside:
                cut[np.unique(np.take(parts, face, axis=axis))] = True
    for c in range(1, int(n_parts) + 1):
        if cut[c] or float(counts[c]) * vv < cfg.min_volume_mm3:
            continue
        b = part_boxes[c]
        box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in b)
        part = parts[box] == c
        if not _border_mostly_outside(part, fill[box]):
            continue
        if _thick(part, spacing_mm, cfg.lumen_min_radius_mm, step=block[2]):
            continue
        ijk = np.argwhere(part) + np.asarray([s.start for s in box]) + origin
        if float(np.mean(site.contains(ijk))) > 0.5:
            found[box] |= part
    del parts
    if found.any():
        found |= _granules(fill & ~found, found, vv, cfg.min_volume_mm3, margin)
    out[sub] = found
    return out


def _thick(part: NDArray[np.bool_], spacing_mm: tuple[float, float, float],
           radius_mm: float, *, step: int = 1) -> bool:
    """Whether some voxel of `part` lies `radius_mm` or farther in-plane from its outside.

    Read on every `step`-th plane (thin slices: planes about a block apart).
    """
    for k in range(0, part.shape[2], max(1, step)):
        plane = part[:, :, k]
        if plane.any() and float(ndi.distance_transform_edt(
                np.pad(plane, 1), sampling=spacing_mm[:2]).max()) >= radius_mm:
            return True
    return False


def _granules(rest: NDArray[np.bool_], parts: NDArray[np.bool_], voxel_mm3: float,
              max_mm3: float, margin: list[int]) -> NDArray[np.bool_]:
    """Pieces of `rest` (26-connected) under `max_mm3` that touch `parts` (26-neighbours).

    Read in the box of `parts` widened by `margin` voxels; a piece the box cuts (it
    reaches a face of the box inside the array) is not taken (it may be larger).
    """
    out = np.zeros(rest.shape, dtype=bool)
    where = np.argwhere(parts)
    lo = np.maximum(where.min(axis=0) - np.asarray(margin), 0)
    hi = np.minimum(where.max(axis=0) + 1 + np.asarray(margin), np.asarray(rest.shape))
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    r, p = rest[box], parts[box]
    lab, n = cc3d.connected_components(r, connectivity=26, return_N=True)
    if not n:
        return out
    counts = np.bincount(lab.ravel(), minlength=int(n) + 1)
    touching = np.bincount(lab[box_filter(p, (1, 1, 1), "max") & r],
                           minlength=int(n) + 1) > 0
    cut = np.zeros(int(n) + 1, dtype=bool)
    for axis in range(3):
        for face, inside in ((0, lo[axis] > 0), (-1, hi[axis] < rest.shape[axis])):
            if inside:
                cut[np.unique(np.take(lab, face, axis=axis))] = True
    keep = touching & ~cut & (counts * voxel_mm3 < max_mm3)
    keep[0] = False
    out[box] = keep[lab]
    return out
