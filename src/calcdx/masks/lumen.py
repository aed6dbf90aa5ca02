"""The enhanced lumen continuous with the measured blood pool, before the skeleton is made.

In an enhanced study the aorta found by :func:`calcdx.masks.contrast.find_blood_pool`
(the densest round homogeneous tube of the trunk) is iodine-filled blood, and so is
every lumen continuous with it at its density: the rest of the aorta, the left heart
chambers, the iliac arteries, however much plaque lines them and whatever bone they
lie against. Such a lumen crosses the mineral threshold as a large component, often
joined to the spine by partial volume or by plaque, and would be sealed and filled as
bone; its wall plaque would be lost with it.

Rule (:func:`blood_pool_lumen`)
-------------------------------
1. **In step with the phase.** Lumen voxels are no denser than the blood pool's median
   HU plus ``window_hu``, and their in-plane local mean (over ``local_mm``) lies from
   the median less ``below_sd`` of the pool's robust SDs up to that top: enhanced blood
   of one phase is one density spread by noise, partial volume at the wall only lowering
   it, and calcified plaque is denser than the lumen by more than ``window_hu`` (the
   plaque rule of :mod:`calcdx.masks.exclusions`), so plaque never joins the lumen.
2. **Continuous and tubular, cut at necks.** Those voxels are opened in-plane (eroded by
   a square of half-width ``neck_mm``); the 6-connected parts of the eroded voxels that
   hold the blood pool's track are the lumen's core, grown back in-plane by the same
   width inside the window. A lumen (the aorta is at least 16 mm across, the smallest
   radius the blood pool search accepts being 8 mm) survives the opening; the contact of
   that density between a lumen and the marrow of a vertebra through the aortic wall and
   cortex, or along a thin bony or vascular branch, is narrower and is cut.
3. **The wall.** The lumen is grown in-plane by ``neck_mm`` into voxels less dense than
   its window's top (its partial-volume wall, which would otherwise enclose the lumen
   as cortex encloses marrow), never into plaque or cortex denser.

4. **Mixing blood** (:func:`mixing_blood`). Inflowing contrast reaches the superior vena
   cava and the right heart barely diluted and mixes there with unenhanced blood in
   swirls and streaks (Bae K.T., Radiology 2010;256:32-61, doi:10.1148/radiol.10090908),
   so those lumens are denser and far less homogeneous than the blood pool and leave its
   window: sealed with the mineral, they would be filled as bone. Voxels whose in-plane
   local mean is at least the window's bottom, with no top, opened and grown back
   in-plane by ``neck_mm``, are split into 26-connected parts; a part is mixing blood
   when it is thick (in-plane depth of ``mixing_min_depth_mm``), densest inside (the
   median of its deep half, by in-plane depth on its outline with holes filled, above
   that of its rim: iodine fills a lumen and partial volume lowers its edge, while bone
   is densest in its cortex round a fainter marrow) and holds undiluted contrast inside
   (at least ``undiluted_fraction`` of its deep voxels above the window). It joins the
   lumen's blood.

A deposit left by the lumen carved out of a skeleton component with at least
``immersed_fraction`` of the face neighbours around it in the lumen
(:func:`lumen_contact`) lies inside the blood, not on the wall: a density spike of
enhanced blood (noise, inflow mixing), not plaque, and is not reported; one that touches
the lumen must peak at least ``window_hu`` above the median of the tube it touches (the
plaque rule of :mod:`calcdx.masks.exclusions`: plaque less dense than that cannot be
told from the lumen's own partial volume and mixing)
(:mod:`calcdx.lesions.detect`; a component of its own is judged by the plaque
threshold of the enhancing region it lies in, :mod:`calcdx.masks.exclusions`).
Every candidate beside the lumen's blood (within ``neck_mm`` and one voxel in-plane,
the width of the partial-volume wall) must also peak ``noise_k`` SDs above that blood
(:func:`local_blood`), the SD being the larger of the image noise and the blood's own
spread there: the noise rule of :mod:`calcdx.lesions.noise` with the local blood as its
background. In a chamber of mixing or streaked contrast one- and few-voxel specks of
the blood itself clear the tube's median by the plaque margin but not this.

The lumen is passed to :func:`calcdx.masks.bone.bone_mask` (``lumen=``): it leaves the
mineral before sealing and filling, so it can neither bridge to bone nor be filled as
marrow, and a component left with too little mineral is no longer skeleton. Its plaque
is then found by the contrast rules of :mod:`calcdx.lesions.detect`.

Stated limits: lumens of another density than the blood pool (a pulmonary artery in a
pulmonary-arterial phase) are not followed unless a tube of their own is found or they are
mixing blood (rule 4); mixing blood less dense inside than at its rim, or with less than
``undiluted_fraction`` above the window, stays with the mineral; a sclerotic bone lesion
at least ``mixing_min_depth_mm`` deep, denser than the window and densest at its centre,
inside a skeleton component, would leave the skeleton as mixing blood (it is then not
reported either: the lumen is never a lesion); fainter swirls (local mean under the
window's bottom) that cut a chamber into pieces narrower than twice ``neck_mm`` leave
those pieces with the mineral (on the shared CTA 11.5 % of the right atrium's mineral
stays skeleton); a lumen narrower than twice ``neck_mm`` in-plane is cut off at that neck;
marrow within ``window_hu`` of the blood pool joined to the lumen by a contact at least
twice ``neck_mm`` wide at that density would be taken as lumen (the aortic wall and the
vertebral cortex lie between them: in a scene drawn at 0.5 mm and averaged to 3 mm voxels,
a 1 mm aortic wall keeps a 150 HU lumen out of osteopenic 160 HU marrow under a 300 HU
cortex, while with no wall at all the lumen runs into it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import cc3d
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage as ndi

from calcdx.masks._filters import box_filter
from calcdx.masks.grid import box_overlap

__all__ = ["LocalBlood", "LumenConfig", "LumenContact", "LumenMask", "blood_pool_lumen",
           "local_blood", "lumen_contact", "mixing_blood", "partial_volume_wall"]


class LumenConfig(BaseModel):
    """Parameters of :func:`blood_pool_lumen` (HU, mm); each states its basis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_hu: float = Field(
        150.0, gt=0, description="lumen voxels lie within this of the blood pool's median "
        "HU. The plaque margin of calcdx.masks.exclusions (plaque_delta_hu): voxels "
        "denser than an enhanced lumen by this are plaque, not lumen")
    below_sd: float = Field(
        3.0, gt=0, description="...and their in-plane local mean no lower than the blood "
        "pool's median less this many of its robust SDs: blood of one phase is one density "
        "whose voxels spread by noise (three SDs hold about 99.7 % of a normal spread, more "
        "once averaged), while unenhanced and less enhanced tissue (liver, spleen, muscle) "
        "lies below")
    local_mm: float = Field(
        3.0, gt=0, description="side of the in-plane square of the local mean. Heuristic, "
        "as BoneConfig.lumen_window_mm: about three voxels at 1 mm, enough to average noise, "
        "much narrower than the aorta")
    immersed_fraction: float = Field(
        0.9, gt=0, le=1, description="a candidate with at least this share of the face "
        "neighbours around it in the lumen lies inside the lumen, not on its wall: a "
        "density spike of enhanced blood (noise, inflow mixing), not plaque, which lies on "
        "the wall with its outer side on the wall's tissue. Heuristic: a plaque seen flat "
        "on the wall has about half its surface there; the tenth left allows for a spike "
        "that touches a papillary muscle or trabecula")
    local_blood_min_voxels: int = Field(
        4, ge=1, description="fewest blood voxels in a candidate's in-plane shell for them "
        "to be its background (calcdx.lesions.detect: a candidate beside the lumen peaks "
        "noise_k SDs above them). Heuristic: the median and quartiles of fewer voxels "
        "are no estimate of a density; four is the fewest with distinct quartiles")
    mixing_min_depth_mm: float = Field(
        6.0, gt=0, description="least in-plane depth (mm) of mixing blood (mixing_blood): "
        "half of 12 mm across. Heuristic from anatomy: inflowing contrast mixes in the "
        "superior vena cava (about 2 cm across, InjectedVeinConfig.max_diameter_mm's basis) "
        "and the right heart chambers, wider still; an arm vein on the injection side is "
        "narrower and judged as a tube (calcdx.masks.injected), and the dense parts of "
        "bone this deep are its marrow behind a cortex",
        )
    undiluted_fraction: float = Field(
        0.1, gt=0, lt=1, description="mixing blood (mixing_blood) holds at least this share "
        "of its deep voxels denser than the lumen's window (undiluted contrast inside it). "
        "Heuristic: a streak or swirl of inflowing contrast need fill only part of a "
        "chamber; a tenth is more than noise of a window-dense blood reaches (three SDs "
        "above its median is 0.1 %), and bone's dense voxels are its cortex, in its rim",
        )
    neck_mm: float = Field(
        3.0, gt=0, description="half-width of the in-plane opening that cuts the lumen "
        "from what touches it. Heuristic from anatomy: the blood pool is a tube of at "
        "least 8 mm radius (ContrastConfig.radius_mm), so its core survives; the aortic "
        "wall (about 2 mm) with the cortex of the vertebra it lies on, and thin branches, "
        "are narrower than twice this")


@dataclass(frozen=True)
class LumenMask:
    """The enhanced lumen on a crop of the grid.

    Attributes
    ----------
    offset : tuple of int
        Full-grid index of ``mask[0, 0, 0]``.
    mask : (A, B, C) ndarray of bool
    median_hu : float
        Median HU of the blood pool that seeded it.
    tube : (A, B, C) ndarray of uint8, optional
        Per voxel of `mask`, 1 + the index in `tube_median_hu` of the tube whose lumen
        holds it (0 elsewhere); None: every voxel is the blood pool's.
    tube_median_hu : tuple of float
        Median HU of each seeding tube.
    blood : (A, B, C) ndarray of bool, optional
        The lumen's blood, its partial-volume wall left out; None: all of `mask`.
    """

    offset: tuple[int, int, int]
    mask: NDArray[np.bool_]
    median_hu: float
    tube: NDArray[np.uint8] | None = None
    tube_median_hu: tuple[float, ...] = ()
    blood: NDArray[np.bool_] | None = None

    def on_box(self, lo: NDArray[np.intp], hi: NDArray[np.intp]) -> NDArray[np.bool_]:
        """The lumen on the full-grid box ``[lo, hi)`` (False outside the crop)."""
        return np.asarray(self._on_box(self.mask, lo, hi), dtype=bool)

    def blood_on_box(self, lo: NDArray[np.intp], hi: NDArray[np.intp]) -> NDArray[np.bool_]:
        """`blood` on the full-grid box ``[lo, hi)`` (`mask` when `blood` is None)."""
        return np.asarray(self._on_box(self.mask if self.blood is None else self.blood,
                                       lo, hi), dtype=bool)

    def tube_on_box(self, lo: NDArray[np.intp], hi: NDArray[np.intp]) -> NDArray[np.uint8]:
        """`tube` on the full-grid box ``[lo, hi)`` (1 on the lumen when `tube` is None)."""
        tube = self.mask.astype(np.uint8) if self.tube is None else self.tube
        return np.asarray(self._on_box(tube, lo, hi), dtype=np.uint8)

    def _on_box(self, values: NDArray[Any], lo: NDArray[np.intp], hi: NDArray[np.intp]
                ) -> NDArray[Any]:
        out = np.zeros(tuple(int(b - a) for a, b in zip(lo, hi, strict=True)),
                       dtype=values.dtype)
        overlap = box_overlap(lo, hi, self.offset, self.mask.shape)
        if overlap is not None:
            dst, src = overlap
            out[dst] = values[src]
        return out


def blood_pool_lumen(
    hu: NDArray[Any],
    spacing_mm: tuple[float, float, float],
    seeds: NDArray[np.integer[Any]],
    blood_pool_hu: float,
    blood_pool_sd_hu: float,
    *,
    within: NDArray[np.bool_] | None = None,
    config: LumenConfig | None = None,
    with_wall: bool = True,
) -> NDArray[np.bool_]:
    """The enhanced lumen continuous with the blood pool's track (module rule).

    Parameters
    ----------
    hu : (I, J, K) ndarray
        CT in HU (a crop holding the lumen); axis 2 is the slice axis.
    spacing_mm : tuple of float
        Voxel size (mm).
    seeds : (M, 3) ndarray of int
        Voxels of the blood pool's track (centres of its cross-sections) on `hu`'s grid.
    blood_pool_hu, blood_pool_sd_hu : float
        Median and robust SD (HU) of the blood pool's voxels.
    within : (I, J, K) ndarray of bool, optional
        Where the lumen may lie.
    config : LumenConfig, optional
    with_wall : bool
        Add the partial-volume wall (step 3); False gives the blood alone.

    Returns
    -------
    (I, J, K) ndarray of bool
        The lumen with its partial-volume wall; all False when no seed lies in it.
    """
    cfg = config or LumenConfig()
    if hu.ndim != 3:
        raise ValueError(f"blood_pool_lumen needs a 3-D HU array, got {hu.ndim}-D")
    if within is not None and within.shape != hu.shape:
        raise ValueError(f"within has shape {within.shape}, the HU array {hu.shape}; "
                         "pass masks on the same grid")
    sx, sy, _ = spacing_mm
    r = (max(1, round(cfg.neck_mm / sx)), max(1, round(cfg.neck_mm / sy)), 0)
    top = blood_pool_hu + cfg.window_hu
    lo = blood_pool_hu - cfg.below_sd * max(blood_pool_sd_hu, 1.0)
    values = np.asarray(hu, dtype=np.float32)
    w = (max(1, round(cfg.local_mm / sx)) | 1, max(1, round(cfg.local_mm / sy)) | 1)
    # the in-plane mean of each slice: one call, no pass along the slices (size 1 there)
    local = ndi.uniform_filter(values, size=(w[0], w[1], 1), mode="nearest")
    window = (local >= lo) & (local <= top) & (values <= top)
    del local
    if within is not None:
        window &= within
    core = box_filter(window, r, "min")
    seeds = np.asarray(seeds, dtype=np.intp).reshape(-1, 3)
    ok = np.all((seeds >= 0) & (seeds < np.asarray(hu.shape)), axis=1)
    seeds = seeds[ok]
    out = np.zeros(hu.shape, dtype=bool)
    if not len(seeds) or not core.any():
        return out
    labels = cc3d.connected_components(core, connectivity=6)
    hit = np.unique(labels[seeds[:, 0], seeds[:, 1], seeds[:, 2]])
    hit = hit[hit > 0]
    if not len(hit):
        return out
    member = np.zeros(int(labels.max()) + 1, dtype=bool)
    member[hit] = True
    lumen = box_filter(member[labels], r, "max") & window
    del labels, core
    if with_wall:
        lumen |= partial_volume_wall(values, lumen, spacing_mm, blood_pool_hu, config=cfg)
    return np.asarray(lumen, dtype=bool)


def partial_volume_wall(
    hu: NDArray[Any], blood: NDArray[np.bool_], spacing_mm: tuple[float, float, float],
    blood_pool_hu: float, *, config: LumenConfig | None = None,
) -> NDArray[np.bool_]:
    """The lumen's partial-volume wall (rule 3).

    `blood` grown in-plane by ``neck_mm`` into voxels less dense than the blood pool's
    median + ``window_hu``.

    Parameters
    ----------
    hu : (I, J, K) ndarray
    blood : (I, J, K) ndarray of bool
        The lumen's blood (:func:`blood_pool_lumen` with ``with_wall=False``).
    spacing_mm : tuple of float
    blood_pool_hu : float
    config : LumenConfig, optional

    Returns
    -------
    (I, J, K) ndarray of bool
        The wall, `blood` left out.
    """
    cfg = config or LumenConfig()
    sx, sy, _ = spacing_mm
    r = (max(1, round(cfg.neck_mm / sx)), max(1, round(cfg.neck_mm / sy)), 0)
    wall = box_filter(blood, r, "max") & (np.asarray(hu) < blood_pool_hu + cfg.window_hu)
    return np.asarray(wall & ~blood, dtype=bool)


_FACES = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])


class LumenContact(NamedTuple):
    """How a voxel set meets the lumen.

    ``fraction``: share of its surrounding face neighbours in its blood or within one
    in-plane voxel of it (the rest of the grown wall aside);
    ``median_hu``: median HU of the tube whose lumen (wall included) holds most of them
    (None when none does: the set does not touch the lumen).
    """

    fraction: float
    median_hu: float | None


def lumen_contact(ijk: NDArray[np.integer[Any]], lumen: LumenMask,
                  grid_shape: tuple[int, ...]) -> LumenContact:
    """How a voxel set meets `lumen` through the face neighbours around it.

    Parameters
    ----------
    ijk : (N, 3) ndarray of int
        Full-grid voxel indices of a candidate.
    lumen : LumenMask
    grid_shape : tuple of int
        Shape of the full grid.

    Returns
    -------
    LumenContact
        Fraction 0 and no median when no neighbour on the grid lies in the lumen.
    """
    ijk = np.asarray(ijk, dtype=np.intp).reshape(-1, 3)
    none = LumenContact(0.0, None)
    if not len(ijk):
        return none
    lo = ijk.min(axis=0) - 1
    hi = ijk.max(axis=0) + 2
    off = np.asarray(lumen.offset)
    if np.any(hi <= off) or np.any(lo >= off + np.asarray(lumen.mask.shape)):
        return none  # no neighbour can lie in the lumen's crop
    own = np.zeros(tuple(int(v) for v in hi - lo), dtype=bool)
    own[tuple((ijk - lo).T)] = True
    ring = np.zeros_like(own)
    for d in _FACES:
        ring[tuple((ijk - lo + d).T)] = True
    ring &= ~own
    at = np.argwhere(ring) + lo
    at = at[np.all((at >= 0) & (at < np.asarray(grid_shape[:3])), axis=1)]
    if not len(at):
        return none
    index = tuple((at - lo).T)
    tube = lumen.tube_on_box(lo, hi)[index]
    if not tube.any():
        return none
    # blood with its first in-plane voxel of partial volume: a spike's neighbours are
    # blood or that edge; a plaque's outer side lies beyond it, on the wall's tissue
    near_blood = box_filter(lumen.blood_on_box(lo - 1, hi + 1), (1, 1, 0), "max")[1:-1, 1:-1,
                                                                                1:-1]
    fraction = float(np.count_nonzero(near_blood[index]) / len(tube))
    which = int(np.argmax(np.bincount(tube[tube > 0])))
    medians = lumen.tube_median_hu or (lumen.median_hu,)
    return LumenContact(fraction, float(medians[which - 1]))



class LocalBlood(NamedTuple):
    """The lumen's blood around a voxel set (:func:`local_blood`).

    ``median_hu`` and ``robust_sd_hu`` (IQR / 1.349) of the blood voxels of its in-plane
    shell; ``n_voxels`` of them (0: the set has no blood beside it, both NaN).
    """

    median_hu: float
    robust_sd_hu: float
    n_voxels: int


def local_blood(ijk: NDArray[np.integer[Any]], lumen: LumenMask, hu: NDArray[Any], *,
                width_vox: int = 2) -> LocalBlood:
    """The blood of `lumen` in the in-plane shell of a voxel set, and its spread.

    The shell is the set's ``(2 width_vox + 1)^2 x 1`` in-plane neighbourhood less the set;
    only its voxels in the lumen's blood (``LumenMask.blood``, its partial-volume wall
    left out) count. In a chamber where inflowing contrast mixes with unenhanced blood,
    or where streaks from undiluted contrast cross it, the blood beside a voxel is denser
    and more variable than the tube's median: that spread, not the image noise alone, is
    what a deposit must stand above.

    Parameters
    ----------
    ijk : (N, 3) ndarray of int
        Full-grid voxel indices of the set.
    lumen : LumenMask
    hu : (I, J, K) ndarray
        CT in HU (full grid).
    width_vox : int
        Shell width (voxels, along axes 0 and 1).

    Returns
    -------
    LocalBlood
    """
    ijk = np.asarray(ijk, dtype=np.intp).reshape(-1, 3)
    nan = LocalBlood(float("nan"), float("nan"), 0)
    if not len(ijk):
        return nan
    grid = np.asarray(hu.shape[:3])
    lo = np.maximum(ijk.min(axis=0) - np.array([width_vox, width_vox, 0]), 0)
    hi = np.minimum(ijk.max(axis=0) + np.array([width_vox + 1, width_vox + 1, 1]), grid)
    own = np.zeros(tuple(int(v) for v in hi - lo), dtype=bool)
    own[tuple((ijk - lo).T)] = True
    shell = box_filter(own, (width_vox, width_vox, 0), "max") & ~own
    shell &= lumen.blood_on_box(lo, hi)
    if not shell.any():
        return nan
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    values = np.asarray(np.asarray(hu[box])[shell], dtype=np.float64)
    q1, q2, q3 = (float(v) for v in np.percentile(values, [25, 50, 75]))
    return LocalBlood(q2, (q3 - q1) / 1.349, int(values.size))


def mixing_blood(
    hu: NDArray[Any], blood: NDArray[np.bool_], spacing_mm: tuple[float, float, float],
    blood_pool_hu: float, blood_pool_sd_hu: float, *, within: NDArray[np.bool_] | None = None,
    config: LumenConfig | None = None,
) -> NDArray[np.bool_]:
    """Blood continuous with the lumen but denser than its window (rule 4 of the module).

    Parameters
    ----------
    hu : (I, J, K) ndarray
        CT in HU (the lumen's crop).
    blood : (I, J, K) ndarray of bool
        The lumen's blood (:func:`blood_pool_lumen` with ``with_wall=False``).
    spacing_mm : tuple of float
    blood_pool_hu, blood_pool_sd_hu : float
        Median and robust SD (HU) of the tube that seeded `blood`.
    within : (I, J, K) ndarray of bool, optional
        Where it may lie (the mineral components holding the lumen).
    config : LumenConfig, optional

    Returns
    -------
    (I, J, K) ndarray of bool
        The mixing blood, `blood` left out.
    """
    cfg = config or LumenConfig()
    sx, sy, _ = spacing_mm
    r = (max(1, round(cfg.neck_mm / sx)), max(1, round(cfg.neck_mm / sy)), 0)
    values = np.asarray(hu, dtype=np.float32)
    w = (max(1, round(cfg.local_mm / sx)) | 1, max(1, round(cfg.local_mm / sy)) | 1)
    # the in-plane mean of each slice: one call, no pass along the slices (size 1 there)
    local = ndi.uniform_filter(values, size=(w[0], w[1], 1), mode="nearest")
    top = blood_pool_hu + cfg.window_hu
    lo = blood_pool_hu - cfg.below_sd * max(blood_pool_sd_hu, 1.0)
    # enhanced at least as the lumen's window, with no top: undiluted or mixing contrast
    dense = (local >= lo) & ~blood
    if within is not None:
        dense &= within
    out = np.zeros(hu.shape, dtype=bool)
    if not dense.any():
        return out
    core = box_filter(dense, r, "min")
    grown = box_filter(core, r, "max") & dense
    del core
    parts, n = cc3d.connected_components(grown, connectivity=26, return_N=True)
    if not n:
        return out
    for box, c in zip(ndi.find_objects(parts), range(1, n + 1), strict=True):
        if box is None:
            continue
        part = parts[box] == c
        outline = _filled_like_a_lumen(values[box], part, (sx, sy), top, cfg)
        if outline is not None:
            out[box] |= outline if within is None else outline & within[box]
    return out


def _filled_like_a_lumen(hu: NDArray[np.float32], part: NDArray[np.bool_],
                         spacing_xy: tuple[float, float], top_hu: float, cfg: LumenConfig
                         ) -> NDArray[np.bool_] | None:
    """A part's in-plane outline when it is densest inside, as contrast filling a lumen is.

    Its deep voxels (in-plane depth at least half the part's greatest, slice by slice on
    its in-plane outline with holes filled) are denser by median than its rim (depth
    under that), and it is thick (greatest in-plane depth at least ``neck_mm``): iodine
    fills a lumen and partial volume with the wall lowers its edge, while bone is densest
    in its cortex round a fainter marrow (a hole of its outline) and a cortex or a
    streak is thin. The outline (holes filled slice by slice) is returned: the fainter
    swirls that a chamber's denser blood encloses are its blood too. None when not.
    """
    from calcdx.masks.bone import fill_holes_2d_3d  # bone imports this module

    # holes filled slice by slice, as binary_fill_holes of each slice fills them
    filled = fill_holes_2d_3d(part, three_d=False)
    # in-plane depth slice by slice (each slice padded in-plane by background), as one
    # transform: every other slice lies 1e9 mm away, so each voxel's nearest background
    # is in its own slice, at the same distance
    depth = np.asarray(ndi.distance_transform_edt(
        np.pad(filled, ((1, 1), (1, 1), (0, 0))), sampling=(*spacing_xy, 1e9)
    )[1:-1, 1:-1], dtype=np.float32)
    deepest = float(depth.max())
    if deepest < cfg.mixing_min_depth_mm:
        return None
    deep = filled & (depth >= 0.5 * deepest)
    rim = filled & (depth < 0.5 * deepest)
    if not deep.any() or not rim.any():
        return None
    inner = hu[deep]
    if (np.median(inner) > np.median(hu[rim])
            and np.percentile(inner, 100.0 * (1.0 - cfg.undiluted_fraction)) > top_hu):
        return filled
    return None
