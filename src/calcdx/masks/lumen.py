"""Enhanced lumens and organs, found before the skeleton by what they are.

:func:`find_lumens` is a stage function: the CT, its voxel size and the
26-connected mineral components (HU >= the mineral threshold) in, a list of
:class:`Lumen` out. It runs before :func:`calcdx.masks.bone.bone_mask`, which is
then given the lumens to exclude, so an enhanced aorta carrying dense wall
plaque (not a smooth region as a whole: its plaque is a dense tail) is never
taken for bone. It uses no skeleton: a lumen is recognised by its own shape and
density, not by not being bone.

Method
------
A mineral component is an enhanced lumen or organ (aorta, heart chamber,
portal vein, enhancing kidney) when

1. it holds at least ``min_volume_mm3``;
2. **in the iodine range, smooth apart from wall plaque**: its voxels less than
   ``plaque_delta_hu`` above its median (the lumen; denser voxels are wall
   plaque) have their median in ``iodine_hu`` and a robust SD (IQR / 1.349) of
   at most ``max_sd_hu``, and fewer than ``max_plaque_fraction`` of all its
   voxels are denser than that;
3. **tubular or chamber-shaped, tracked along the slices**: the lumen voxels of
   at least ``min_sections`` slices spanning at least ``min_length_mm`` (centre
   to centre) are thick (some voxel ``min_radius_mm`` in-plane from the
   outside of the component's cross-section), and each such section's lumen
   median lies within max(``section_tolerance_hu``, 3 robust SD) of the whole
   lumen's: one homogeneous lumen followed along the slices;
4. **not marrow**: in those sections, less than ``max_enclosed_fraction`` of
   its lumen voxels lie inside its dense voxels closed in-plane by
   ``close_mm`` and filled (cortex encloses marrow; a plaque arc on a vessel
   wall does not enclose its lumen).

A lumen's plaque threshold is its lumen median + max(``plaque_delta_hu``, 4
robust SD), as in :mod:`calcdx.masks.exclusions`: voxels at or above it are
reported as calcified wall plaque.

Stated limits: a lumen that is one mineral component with bone (touching it at
the mineral threshold) is not found here; :func:`calcdx.masks.bone.bone_mask`
then looks for it inside the skeleton component (its step 2b, fine grids only).
A lumen denser than the top of ``iodine_hu`` (an arterial CTA aorta of ~500 HU)
is not found either. A homogeneous, thick calcified mass in the iodine range
followed over ``min_length_mm`` is taken for a lumen; calcified masses are
usually heterogeneous.

Basis
-----
calcdx heuristics, each stated on its field. The HU range and smoothness are
those of the contrast rule of :mod:`calcdx.masks.exclusions`; the thickness
that of :class:`calcdx.masks.bone.BoneConfig` (``lumen_min_radius_mm``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage as ndi

from calcdx.masks.bone import ComponentBoxes

__all__ = ["Lumen", "LumenConfig", "LumenSearch", "find_lumens"]


class LumenConfig(BaseModel):
    """Parameters of :func:`find_lumens` (HU, mm, mm^3); each states its basis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_volume_mm3: float = Field(
        200.0, gt=0, description="least volume of a lumen or organ (heuristic: the small "
        "smooth-region size of calcdx.masks.exclusions, a 10 mm length of a 5 mm vessel)")
    iodine_hu: tuple[float, float] = Field(
        (150.0, 450.0), description="median HU of an enhanced lumen (heuristic, the range of "
        "calcdx.masks.exclusions: portal venous 150-200 HU, arterial about 250-450 HU)")
    max_sd_hu: float = Field(
        60.0, gt=0, description="robust SD of a lumen's voxels (heuristic, as in "
        "calcdx.masks.exclusions)")
    plaque_delta_hu: float = Field(
        150.0, gt=0, description="voxels this far above the median are wall plaque, not "
        "lumen (heuristic: the plaque margin of calcdx.masks.exclusions)")
    max_plaque_fraction: float = Field(
        0.2, gt=0, le=1, description="share of plaque voxels a lumen may hold (heuristic, as "
        "in calcdx.masks.exclusions: wall plaque is a thin part of the wall)")
    min_radius_mm: float = Field(
        6.0, gt=0, description="in-plane half-thickness of a lumen's thick sections "
        "(heuristic, BoneConfig.lumen_min_radius_mm: a rib is at most about 10 mm thick, "
        "the aorta about 25 mm, the portal vein about 12 mm)")
    min_sections: int = Field(
        3, ge=2, description="fewest thick sections (heuristic: a cross-section seen once or "
        "twice may be anything round, as in calcdx.masks.contrast)")
    min_length_mm: float = Field(
        6.0, gt=0, description="least span of the thick sections along the slices, centre "
        "to centre (heuristic: three 2-3 mm sections, as in calcdx.masks.contrast)")
    section_tolerance_hu: float = Field(
        50.0, gt=0, description="a section's lumen median lies within max(this, 3 robust SD) "
        "of the whole lumen's (heuristic: the secondary-region match of "
        "calcdx.masks.exclusions)")
    close_mm: float = Field(
        3.0, ge=0, description="in-plane closing of the dense voxels before the enclosure "
        "test (heuristic, BoneConfig.close_mm: seals cortex broken by partial volume)")
    neck_mm: float = Field(
        1.5, ge=0, description="in-plane erosion that cuts a lumen from mineral it touches "
        "before its cross-sections are judged (heuristic: about one voxel at 1-1.5 mm; a "
        "lumen lies against bone over a partial-volume edge of one to two voxels)")
    max_enclosed_fraction: float = Field(
        0.5, gt=0, le=1, description="a lumen has less than this share of its lumen voxels "
        "enclosed by its dense voxels (heuristic: marrow lies wholly inside cortex)")


class Lumen(BaseModel):
    """A mineral component taken for an enhanced lumen or organ."""

    model_config = ConfigDict(frozen=True)

    component: int
    volume_mm3: float
    median_hu: float
    robust_sd_hu: float
    plaque_threshold_hu: float
    plaque_fraction: float
    length_mm: float
    n_sections: int


def _closed(mask: NDArray[np.bool_], radius: tuple[int, int]) -> NDArray[np.bool_]:
    """`mask` closed in-plane by a square of `radius` voxels, then filled slice by slice."""
    out = np.empty_like(mask)
    size = (2 * radius[0] + 1, 2 * radius[1] + 1)
    for k in range(mask.shape[2]):
        m = np.pad(mask[:, :, k], ((radius[0], radius[0]), (radius[1], radius[1])))
        if radius != (0, 0):
            m = ndi.binary_closing(m, structure=np.ones(size, dtype=bool))
        m = ndi.binary_fill_holes(m)
        out[:, :, k] = m[radius[0]: m.shape[0] - radius[0], radius[1]: m.shape[1] - radius[1]]
    return out | mask


def _is_lumen(
    crop_hu: NDArray[Any], member: NDArray[np.bool_], median: float, sd: float,
    spacing: tuple[float, float, float], cfg: LumenConfig,
) -> tuple[bool, float, int]:
    """Sections test (steps 3-4) on a component's crop; (accepted, length mm, sections)."""
    sx, sy, sz = spacing
    dense = member & (crop_hu >= median + cfg.plaque_delta_hu)
    lumen = member & ~dense
    # in-plane distance to the outside of each cross-section (no distance across slices)
    padded = np.pad(member, ((1, 1), (1, 1), (0, 0)))
    dist = ndi.distance_transform_edt(padded, sampling=(sx, sy, 1e6))[1:-1, 1:-1, :]
    thick_k = np.flatnonzero(np.max(np.where(lumen, dist, 0.0), axis=(0, 1)) >= cfg.min_radius_mm)
    tol = max(cfg.section_tolerance_hu, 3.0 * sd)
    good = [int(k) for k in thick_k
            if abs(float(np.median(crop_hu[:, :, k][lumen[:, :, k]])) - median) <= tol]
    if len(good) < cfg.min_sections:
        return False, 0.0, len(good)
    length = (good[-1] - good[0]) * sz
    if length < cfg.min_length_mm:
        return False, length, len(good)
    sel = np.asarray(good)
    if dense[:, :, sel].any():
        radius = ((max(0, round(cfg.close_mm / sx)), max(0, round(cfg.close_mm / sy)))
                  if cfg.close_mm > 0 else (0, 0))
        enclosed = _closed(dense[:, :, sel], radius) & lumen[:, :, sel]
        if np.count_nonzero(enclosed) >= cfg.max_enclosed_fraction * np.count_nonzero(
                lumen[:, :, sel]):
            return False, length, len(good)
    return True, length, len(good)


def _lumen_in_component(
    crop_hu: NDArray[Any], member: NDArray[np.bool_], pool_hu: float,
    spacing: tuple[float, float, float], cfg: LumenConfig,
) -> NDArray[np.bool_]:
    """The lumens inside a larger component's crop, with their partial-volume wall (step 5)."""
    sx, sy, sz = spacing
    h = np.asarray(crop_hu, dtype=np.float32)
    top = pool_hu + cfg.plaque_delta_hu
    band = member & (h >= pool_hu - cfg.plaque_delta_hu) & (h < top)
    out = np.zeros(member.shape, dtype=bool)
    if np.count_nonzero(band) * sx * sy * sz < cfg.min_volume_mm3:
        return out
    r = (max(1, round(cfg.neck_mm / sx)), max(1, round(cfg.neck_mm / sy))) if (
        cfg.neck_mm > 0) else (0, 0)
    size = (2 * r[0] + 1, 2 * r[1] + 1, 1)
    seeds = ndi.binary_erosion(band, structure=np.ones(size, dtype=bool)) if r != (0, 0) else band
    plane = np.zeros((3, 3, 3), dtype=bool)
    plane[:, :, 1] = True
    lab, n = ndi.label(seeds, structure=plane)
    if n == 0:
        return out
    ids = np.arange(1, n + 1)
    padded = np.pad(band, ((1, 1), (1, 1), (0, 0)))
    dist = ndi.distance_transform_edt(padded, sampling=(sx, sy, 1e6))[1:-1, 1:-1, :]
    thick = np.asarray(ndi.maximum(dist, lab, ids)) >= cfg.min_radius_mm
    if not thick.any():
        return out
    hv = h.astype(np.float64)
    mean = np.asarray(ndi.mean(hv, lab, ids))
    sd = np.sqrt(np.maximum(np.asarray(ndi.mean(hv * hv, lab, ids)) - mean * mean, 0.0))
    ok = thick & (sd <= cfg.max_sd_hu)
    dense = member & (h >= top)
    if ok.any() and dense.any():
        radius = ((max(0, round(cfg.close_mm / sx)), max(0, round(cfg.close_mm / sy)))
                  if cfg.close_mm > 0 else (0, 0))
        enclosed = _closed(dense, radius)
        n_in = np.asarray(ndi.sum(enclosed, lab, ids))
        n_all = np.asarray(ndi.sum(np.ones_like(band), lab, ids))
        ok &= n_in < cfg.max_enclosed_fraction * np.maximum(n_all, 1)
    if not ok.any():
        return out
    keep = np.concatenate([[False], ok])
    grown = ndi.binary_dilation(keep[lab], structure=np.ones(size, dtype=bool)) & band \
        if r != (0, 0) else keep[lab]
    rlab, nr = ndi.label(grown)
    for c in range(1, nr + 1):
        region = rlab == c
        ks = np.flatnonzero(region.any(axis=(0, 1)))
        if (len(ks) >= cfg.min_sections and (ks[-1] - ks[0]) * sz >= cfg.min_length_mm
                and np.count_nonzero(region) * sx * sy * sz >= cfg.min_volume_mm3):
            out |= region
    if out.any():
        # the partial-volume wall: the component's voxels less dense than the lumen's
        # plaque threshold (median + max(plaque_delta_hu, 4 robust SD), as reported)
        # within one erosion and one voxel of the lumen in-plane; and what the lumen
        # encloses in-plane (inflow of denser contrast; wall plaque lies on its edge)
        q25, median, q75 = np.percentile(h[out], [25, 50, 75])
        threshold = float(median) + max(cfg.plaque_delta_hu, 4.0 * float(q75 - q25) / 1.349)
        wall = (2 * r[0] + 3, 2 * r[1] + 3, 1)
        out = ndi.binary_dilation(out, structure=np.ones(wall, dtype=bool)) & member & (
            h < threshold)
        out |= _closed(out, (0, 0)) & member
    return out


@dataclass(frozen=True)
class LumenSearch:
    """What :func:`find_lumens` found.

    Attributes
    ----------
    lumens : list of Lumen
        Whole mineral components that are lumens or organs.
    parts : list of (Lumen, ndarray)
        Lumens cut out of a larger component (a lumen touching bone at the
        mineral threshold): the summary (``component`` is that larger
        component's label) and the full-grid indices (M, 3) of its voxels, its
        partial-volume wall included.
    """

    lumens: list[Lumen]
    parts: list[tuple[Lumen, NDArray[np.int32]]] = field(default_factory=list)


def find_lumens(
    hu: NDArray[Any],
    spacing_mm: tuple[float, float, float],
    labels: NDArray[np.integer[Any]],
    boxes: ComponentBoxes,
    *,
    blood_pool_hu: float | None = None,
    config: LumenConfig | None = None,
) -> LumenSearch:
    """Find the mineral components that are enhanced lumens or organs.

    Parameters
    ----------
    hu : (I, J, K) ndarray
        CT in HU; axis 2 is the slice axis.
    spacing_mm : tuple of float
        Voxel size in mm.
    labels : (I, J, K) ndarray of int
        26-connected mineral components (0 = none).
    boxes : ComponentBoxes
        Their voxel counts, bounding boxes and voxel HU (``hu`` and ``start``
        given); a component counted 0 is not judged (outside the body, say).
    blood_pool_hu : float, optional
        Median HU of the enhanced blood pool (:func:`calcdx.masks.contrast.find_blood_pool`).
        When given, lumens are also cut out of larger components (step 5).
    config : LumenConfig, optional

    Returns
    -------
    LumenSearch
        Lumens in component order.

    Raises
    ------
    ValueError
        `boxes` lacks the components' HU.
    """
    cfg = config or LumenConfig()
    if boxes.hu is None or boxes.start is None:
        raise ValueError("find_lumens needs ComponentBoxes with the components' HU and starts")
    sx, sy, sz = (float(s) for s in spacing_mm)
    vv = sx * sy * sz
    counts = np.asarray(boxes.counts, dtype=np.int64)
    out: list[Lumen] = []
    parts: list[tuple[Lumen, NDArray[np.int32]]] = []
    for c in np.flatnonzero(counts * vv >= cfg.min_volume_mm3):
        if c == 0:
            continue
        a, n = int(boxes.start[c]), int(counts[c])
        v = np.asarray(boxes.hu[a:a + n], dtype=np.float32)
        # steps 1-2 from the voxel values alone: cheap, so bone fails before any crop
        median_all = float(np.median(v))
        lumen_v = v[v < median_all + cfg.plaque_delta_hu]
        plaque_fraction = 1.0 - len(lumen_v) / len(v)
        q25, median, q75 = (float(x) for x in np.percentile(lumen_v, [25, 50, 75]))
        sd = (q75 - q25) / 1.349
        whole = (plaque_fraction < cfg.max_plaque_fraction and sd <= cfg.max_sd_hu
                 and cfg.iodine_hu[0] <= median <= cfg.iodine_hu[1])
        pool_band = 0
        if blood_pool_hu is not None and not whole:
            pool_band = int(np.count_nonzero(np.abs(v - blood_pool_hu) < cfg.plaque_delta_hu))
        if not whole and pool_band * vv < cfg.min_volume_mm3:
            continue
        box = boxes.box(int(c))
        member = np.asarray(labels[box] == c)
        crop = np.asarray(hu[box])
        if not whole:
            assert blood_pool_hu is not None
            part = _lumen_in_component(crop, member, blood_pool_hu, (sx, sy, sz), cfg)
            if part.any():
                pv = crop[part].astype(np.float32)
                pq25, pmed, pq75 = (float(x) for x in np.percentile(pv, [25, 50, 75]))
                psd = (pq75 - pq25) / 1.349
                ks = np.flatnonzero(part.any(axis=(0, 1)))
                ijk = (np.argwhere(part) + np.array([b.start for b in box])).astype(np.int32)
                parts.append((Lumen(
                    component=int(c), volume_mm3=float(len(pv)) * vv, median_hu=pmed,
                    robust_sd_hu=psd, plaque_threshold_hu=pmed + max(cfg.plaque_delta_hu,
                                                                     4.0 * psd),
                    plaque_fraction=0.0, length_mm=float(ks[-1] - ks[0]) * sz,
                    n_sections=len(ks)), ijk))
            continue
        ok, length, n_sections = _is_lumen(crop, member, median, sd, (sx, sy, sz), cfg)
        if not ok:
            continue
        out.append(Lumen(
            component=int(c), volume_mm3=float(n) * vv, median_hu=median, robust_sd_hu=sd,
            plaque_threshold_hu=median + max(cfg.plaque_delta_hu, 4.0 * sd),
            plaque_fraction=plaque_fraction, length_mm=length, n_sections=n_sections,
        ))
    return LumenSearch(out, parts)
