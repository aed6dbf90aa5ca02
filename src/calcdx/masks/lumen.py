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

A deposit left by the lumen carved out of a skeleton component with at least
``immersed_fraction`` of the face neighbours around it in the lumen
(:func:`lumen_contact`) lies inside the blood, not on the wall: a density spike of
enhanced blood (noise, inflow mixing), not plaque, and is not reported; one that touches
the lumen must peak at least ``window_hu`` above the median of the tube it touches (the
plaque rule of :mod:`calcdx.masks.exclusions`: plaque less dense than that cannot be
told from the lumen's own partial volume and mixing)
(:mod:`calcdx.lesions.detect`; a component of its own is judged by the plaque
threshold of the enhancing region it lies in, :mod:`calcdx.masks.exclusions`).

The lumen is passed to :func:`calcdx.masks.bone.bone_mask` (``lumen=``): it leaves the
mineral before sealing and filling, so it can neither bridge to bone nor be filled as
marrow, and a component left with too little mineral is no longer skeleton. Its plaque
is then found by the contrast rules of :mod:`calcdx.lesions.detect`.

Stated limits: lumens of another density than the blood pool (the right heart with
inflowing undiluted contrast, a pulmonary artery in a pulmonary-arterial phase) are
not followed; a lumen narrower than twice ``neck_mm`` in-plane is cut off at that neck;
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

__all__ = ["LumenConfig", "LumenContact", "LumenMask", "blood_pool_lumen", "lumen_contact",
           "partial_volume_wall"]


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
    local = np.empty_like(values)
    w = (max(1, round(cfg.local_mm / sx)) | 1, max(1, round(cfg.local_mm / sy)) | 1)
    for k in range(values.shape[2]):
        local[:, :, k] = ndi.uniform_filter(values[:, :, k], size=w, mode="nearest")
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

