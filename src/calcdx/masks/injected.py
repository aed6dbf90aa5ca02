"""Injected veins: undiluted contrast in the vein it was given through, not calcification.

In a contrast-enhanced CT the agent is given through a peripheral vein, usually of an
arm, and runs centrally (axillary, subclavian and brachiocephalic veins, the superior
vena cava) before it mixes with blood in the right heart. Until then it is barely
diluted, so the veins on the injection side are far denser than every other vessel of
the same phase, dense enough to cast perivenous streaks, and may reflux into the neck
and upper thoracic veins (Demirpolat G. et al., Carotid CT angiography: comparison of
image quality for left versus right arm injections, Diagn Interv Radiol
2011;17:195-198; contrast timing and dilution: Bae K.T., Radiology 2010;256:32-61,
doi:10.1148/radiol.10090908). Such a vein crosses
the mineral threshold as a long tube and would be read as a calcified, tubular lesion.

Rule
----
A mineral candidate (its voxels, :func:`injected_vein`) of an enhanced study is an
injected vein when all hold:

1. **Tube.** Its principal axis (PCA of its voxel centres in mm) spans at least
   ``min_length_mm`` and at least ``min_aspect`` times its median cross-section diameter,
   which is at most ``max_diameter_mm``; cross-sections (slabs one voxel thick along the
   axis) are occupied over at least ``min_occupancy`` of that length (continuous).
2. **Filled lumen.** In at least ``min_centred_fraction`` of its dense cross-sections the
   densest voxel lies inside the candidate (its six face neighbours in it, or off the
   grid) and its core (voxels at least half the cross-section's greatest depth from the
   candidate's outside) is denser, by mean, than its rim: iodine fills a lumen and is
   densest in its middle, where partial volume is least, while calcified plaque, a
   calcified vessel wall and bone (its cortex) are densest at the surface, and a
   phlebolith is a round stone, not a tube.
3. **Undiluted, through the field of view.** Its dense cross-sections (peak at or above
   the blood pool measured in the aorta, :mod:`calcdx.masks.contrast`, plus
   ``excess_hu``) reach the edge of the grid at both ends of the tube (in the first and
   the last quarter of its cross-sections): the undiluted column runs in from the
   injection site outside the field of view and on out of it, as an arm vein does
   through a trunk scan with the arms down. A tube cut by the grid at one end only is
   kept: on the shared Siemens series an unlabelled solid anterior midline structure
   (peak 1,049 HU) and a tubular calcification along TotalSegmentator's splenic vein
   (peak 729 HU; the series' calcified splenic artery) are such tubes, and both would
   pass every other rule. Without a measured blood pool the reference is
   ``reference_hu_without_pool``.

Stated limits: an injected vein whose dense column ends inside the field of view (the
whole arm in view; the axillary and subclavian veins of raised arms, which run on into
the superior vena cava and heart, joined to them in one component) is not recognised;
a solid tubular calcification (a calcified vas deferens, a calcified guinea worm)
crossing the whole field of view of an enhanced study, denser than the blood pool by
``excess_hu`` and densest at its centre, would be taken for one. Native studies are never
judged: no contrast was given. A vein less than about three voxels across has no
inside voxel and is not recognised.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DenseContrastConfig", "InjectedVein", "InjectedVeinConfig", "dense_contrast",
           "injected_vein"]


class InjectedVeinConfig(BaseModel):
    """Parameters of :func:`injected_vein` (mm, HU); each states its basis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_length_mm: float = Field(
        20.0, gt=0, description="least length along the principal axis. Heuristic: a "
        "focal deposit (a phlebolith, a calcified node or cyst) is compact, at most about "
        "the 12 mm calcdx allows a deposit on bone (BoneConfig.deposit_max_mm); a vein "
        "followed over several of its own diameters is longer")
    min_aspect: float = Field(
        3.0, gt=0, description="least length / median cross-section diameter. Heuristic: "
        "a tube is several diameters long; a round or ovoid deposit is not")
    max_diameter_mm: float = Field(
        30.0, gt=0, description="largest median cross-section diameter. Heuristic from "
        "anatomy: the superior vena cava, the widest vein on the injection path, is about "
        "2 cm across; the heart and aorta are not judged here")
    min_occupancy: float = Field(
        0.9, gt=0, le=1, description="least share of the cross-sections along its length "
        "that hold a voxel (a continuous tube; heuristic allowing a slab missed by "
        "rounding along an oblique axis)")
    min_centred_fraction: float = Field(
        0.6, gt=0, le=1, description="least share of its dense cross-sections whose "
        "densest voxel lies inside it (heuristic: a clear majority; partial volume and noise "
        "may move the peak of a few to the surface)")
    excess_hu: float = Field(
        150.0, gt=0, description="a dense cross-section peaks this far above the measured "
        "blood pool: undiluted contrast, denser than every vessel of the phase. The "
        "plaque margin of calcdx.masks.exclusions (plaque_delta_hu), which calls voxels "
        "this far above an enhanced lumen denser than that lumen")
    reference_hu_without_pool: float = Field(
        250.0, description="reference blood HU when no blood pool was measured: the "
        "arterial cut-off of calcdx.masks.contrast (arterial_blood_hu), so only mineral "
        "denser than arterial blood by excess_hu can be injected contrast")


class InjectedVein(BaseModel):
    """What :func:`injected_vein` measured on one candidate."""

    model_config = ConfigDict(frozen=True)

    injected: bool
    length_mm: float
    diameter_mm: float
    occupancy: float
    centred_fraction: float
    dense_sections: int
    dense_reaches_edge: bool
    reason: str


def injected_vein(
    ijk: NDArray[np.integer[Any]],
    hu: NDArray[Any],
    spacing_mm: tuple[float, float, float],
    grid_shape: tuple[int, ...],
    *,
    blood_pool_hu: float | None,
    config: InjectedVeinConfig | None = None,
) -> InjectedVein:
    """Judge whether a mineral candidate of an enhanced study is an injected vein.

    Parameters
    ----------
    ijk : (N, 3) ndarray of int
        Full-grid voxel indices of the candidate (26-connected).
    hu : (N,) ndarray
        Their HU.
    spacing_mm : tuple of float
        Voxel size (mm) along the three axes.
    grid_shape : tuple of int
        Shape of the full grid (for its edges).
    blood_pool_hu : float or None
        Median HU of the enhanced blood pool (:class:`calcdx.masks.contrast.BloodPool`),
        None when none was measured.
    config : InjectedVeinConfig, optional

    Returns
    -------
    InjectedVein
        ``injected`` and the measures behind it; ``reason`` names the first rule that
        failed (or "injected vein").
    """
    cfg = config or InjectedVeinConfig()
    ijk = np.asarray(ijk)
    values = np.asarray(hu, dtype=np.float64)
    spacing = np.asarray(spacing_mm, dtype=np.float64)
    if len(ijk) != len(values):
        raise ValueError(f"{len(ijk)} voxels but {len(values)} HU values; pass one HU per voxel")

    def result(ok: bool, reason: str, **kw: Any) -> InjectedVein:
        base: dict[str, Any] = dict(length_mm=0.0, diameter_mm=0.0, occupancy=0.0,
                                    centred_fraction=0.0, dense_sections=0,
                                    dense_reaches_edge=False)
        base.update(kw)
        return InjectedVein(injected=ok, reason=reason, **base)

    if len(ijk) < 3:
        return result(False, "fewer than 3 voxels")
    extent = float(np.linalg.norm((ijk.max(axis=0) - ijk.min(axis=0) + 1) * spacing))
    if extent < cfg.min_length_mm:  # its box's diagonal bounds its length along any axis
        return result(False, f"shorter than {cfg.min_length_mm:g} mm", length_mm=extent)
    xyz = ijk.astype(np.float64) * spacing
    centre = xyz.mean(axis=0)
    _, _, vt = np.linalg.svd(xyz - centre, full_matrices=False)
    axis = vt[0]
    t = (xyz - centre) @ axis
    step = float(np.abs(axis) @ spacing)  # a voxel's depth along the axis
    # slabs one voxel deep; the tolerance keeps voxel layers whose depth along an
    # axis-aligned tube is an exact multiple of the step, read a rounding under it,
    # in their own slab (an SVD axis is exact only to rounding)
    slab = np.floor((t - t.min()) / step + 1e-6).astype(np.intp)
    n_slabs = int(slab.max()) + 1
    length = n_slabs * step
    occupied = np.bincount(slab, minlength=n_slabs) > 0
    occupancy = float(occupied.mean())
    voxel_mm3 = float(np.prod(spacing))
    order = np.argsort(slab, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(slab, minlength=n_slabs))])
    diameters: list[float] = []
    centred: list[bool] = []
    dense: list[bool] = []
    edge: list[bool] = []
    reference = blood_pool_hu if blood_pool_hu is not None else cfg.reference_hu_without_pool
    dims = np.asarray(grid_shape[:3])
    at_edge = np.any((ijk == 0) | (ijk == dims - 1), axis=1)
    inside = _inside(ijk, dims)
    depth = _depth_mm(ijk, spacing)
    for s in range(n_slabs):
        sel = order[bounds[s]:bounds[s + 1]]
        if len(sel) == 0:
            continue
        area = len(sel) * voxel_mm3 / step
        radius = float(np.sqrt(area / np.pi))
        diameters.append(2.0 * radius)
        peak = int(np.argmax(values[sel]))
        is_dense = bool(values[sel][peak] >= reference + cfg.excess_hu)
        dense.append(is_dense)
        deep = depth[sel] >= 0.5 * float(depth[sel].max())
        core_denser = bool(deep.all() or np.mean(values[sel][deep])
                           > np.mean(values[sel][~deep]))
        centred.append(bool(inside[sel[peak]]) and core_denser)
        edge.append(is_dense and bool(at_edge[sel].any()))
    diameter = float(np.median(diameters))
    n_dense = int(np.count_nonzero(dense))
    centred_fraction = (float(np.mean([c for c, d in zip(centred, dense, strict=True) if d]))
                        if n_dense else 0.0)
    measures = dict(length_mm=length, diameter_mm=diameter, occupancy=occupancy,
                    centred_fraction=centred_fraction, dense_sections=n_dense,
                    dense_reaches_edge=any(edge))
    if length < cfg.min_length_mm:
        return result(False, f"shorter than {cfg.min_length_mm:g} mm", **measures)
    if diameter > cfg.max_diameter_mm:
        return result(False, f"wider than {cfg.max_diameter_mm:g} mm", **measures)
    if length < cfg.min_aspect * diameter:
        return result(False, f"less than {cfg.min_aspect:g} diameters long", **measures)
    if occupancy < cfg.min_occupancy:
        return result(False, "not continuous along its axis", **measures)
    if n_dense == 0:
        return result(False, f"no cross-section {cfg.excess_hu:g} HU above the blood "
                      f"({reference:.0f} HU)", **measures)
    if centred_fraction < cfg.min_centred_fraction:
        return result(False, "densest on its wall, not at its centre", **measures)
    if not any(edge):
        return result(False, "its dense column does not reach the edge of the grid",
                      **measures)
    quarter = max(1, len(edge) // 4)
    if not (any(edge[:quarter]) and any(edge[-quarter:])):
        return result(False, "its dense column reaches the edge of the grid at one end "
                      "only", **measures)
    return result(True, "injected vein", **measures)


def _inside(ijk: NDArray[np.integer[Any]], dims: NDArray[np.intp]) -> NDArray[np.bool_]:
    """Per voxel, whether its six face neighbours are all in the set or off the grid."""
    lo = ijk.min(axis=0) - 1
    local = ijk - lo
    box = np.zeros(tuple(int(v) for v in local.max(axis=0) + 2), dtype=bool)
    box[local[:, 0], local[:, 1], local[:, 2]] = True
    out = np.ones(len(ijk), dtype=bool)
    for axis in range(3):
        for d in (-1, 1):
            n = local.copy()
            n[:, axis] += d
            off_grid = (ijk[:, axis] + d < 0) | (ijk[:, axis] + d >= dims[axis])
            out &= box[n[:, 0], n[:, 1], n[:, 2]] | off_grid
    return out


def _depth_mm(ijk: NDArray[np.integer[Any]], spacing: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per voxel, its distance (mm) to the nearest voxel outside the set."""
    from scipy import ndimage as ndi

    lo = ijk.min(axis=0) - 1
    local = ijk - lo
    box = np.zeros(tuple(int(v) for v in local.max(axis=0) + 2), dtype=bool)
    box[local[:, 0], local[:, 1], local[:, 2]] = True
    dist = ndi.distance_transform_edt(box, sampling=tuple(float(v) for v in spacing))
    return np.asarray(dist[local[:, 0], local[:, 1], local[:, 2]], dtype=np.float64)


class DenseContrastConfig(BaseModel):
    """Parameters of :func:`dense_contrast` (mm, fractions); each states its basis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    level_fraction: float = Field(
        0.5, gt=0, lt=1, description="the metal's extent is read at this fraction of the "
        "metal threshold: the full width at half maximum, the usual measure of a blurred "
        "object's size (as the struts of calcdx.masks.metal.find_stents). An implant's "
        "extent at half its threshold is the implant and its blooming; a contrast column's "
        "is the lumen it fills")
    min_lumen_depth_mm: float = Field(
        3.0, gt=0, description="the extent's deepest voxel lies at least this far from its "
        "outside: a lumen at least 6 mm across. Heuristic from anatomy and implants: the "
        "veins an injection runs through are wider (axillary and subclavian veins about "
        "8-12 mm, brachiocephalic veins 10-15 mm, the superior vena cava about 20 mm), while "
        "a sternal wire (about 1 mm), a pacing lead (about 2 mm), a surgical clip or a stent "
        "strut, bloomed by the point-spread function of clinical CT, is a few mm across")
    max_metal_share: float = Field(
        0.25, gt=0, le=1, description="at most this share of the extent reaches the metal "
        "threshold. Heuristic from what the two are: an implant is a solid of one material "
        "whose extent at half its threshold is mostly its own plateau at or above it "
        "(blooming adds a rim about a voxel deep), while contrast medium is a fluid whose "
        "density falls from its densest, least diluted streaks to the blood it mixes with, "
        "only those streaks clearing the metal threshold")


def dense_contrast(
    hu: NDArray[Any],
    metal_ijk: NDArray[np.integer[Any]],
    spacing_mm: tuple[float, float, float],
    metal_hu: float,
    *,
    config: DenseContrastConfig | None = None,
) -> NDArray[np.bool_]:
    """Which voxels at the metal threshold are dense contrast medium, not metal.

    Undiluted iodine in the vein it was injected through (and in the superior vena cava
    and right heart before it mixes) can read 2,500-3,500 HU, as dense as metal at
    clinical scales (Bae K.T., Radiology 2010;256:32-61, doi:10.1148/radiol.10090908);
    taken for metal it would lay a streak zone over the chest. It is told from metal by
    what each is, not by its HU. Rule, for each 26-connected part of the voxels at or
    above `metal_hu`: its *extent* is the 26-connected region at or above
    ``level_fraction * metal_hu`` holding it. The part is contrast when

    1. the extent is a lumen: its deepest voxel lies at least ``min_lumen_depth_mm``
       from its outside (3-D distance), wider than any wire, lead, clip or strut;
    2. it is fluid, not a solid: at most ``max_metal_share`` of the extent reaches the
       metal threshold;
    3. the part has no solid core: none of its own voxels lies ``min_lumen_depth_mm`` or
       more from the outside of the voxels at the metal threshold (an implant wider than
       a lumen, a stem or a rod, is a plateau that deep).

    Only enhanced studies are judged (the caller's duty): no contrast, no contrast
    medium. Stated limits: metal lying in such a column (a pacing lead in an injected
    superior vena cava) is taken with the contrast; an undiluted column wider than
    twice ``min_lumen_depth_mm`` all at the metal threshold (a solid core) stays metal,
    as does contrast in a lumen narrower than twice ``min_lumen_depth_mm``; dense oral
    contrast in an enhanced study (barium, 1,000-3,000 HU) is taken for contrast too,
    which it is.

    Parameters
    ----------
    hu : (I, J, K) ndarray
        CT in HU.
    metal_ijk : (M, 3) ndarray of int
        Full-grid indices of the voxels at or above `metal_hu`.
    spacing_mm : tuple of float
        Voxel size (mm).
    metal_hu : float
        The metal threshold (HU).
    config : DenseContrastConfig, optional

    Returns
    -------
    (M,) ndarray of bool
        Per metal voxel, whether it is contrast medium.
    """
    import cc3d
    from scipy import ndimage as ndi

    cfg = config or DenseContrastConfig()
    metal_ijk = np.asarray(metal_ijk, dtype=np.intp)
    out = np.zeros(len(metal_ijk), dtype=bool)
    if len(metal_ijk) == 0:
        return out
    spacing = tuple(float(v) for v in spacing_mm)
    extent_lab = cc3d.connected_components(np.asarray(hu >= cfg.level_fraction * metal_hu),
                                           connectivity=26)
    metal = np.zeros(hu.shape, dtype=bool)
    metal[tuple(metal_ijk.T)] = True
    metal_lab = cc3d.connected_components(metal, connectivity=26)
    part_of = metal_lab[tuple(metal_ijk.T)]
    extent_of = extent_lab[tuple(metal_ijk.T)]
    slices = ndi.find_objects(extent_lab)
    contrast_extent: dict[int, bool] = {}
    for e in np.unique(extent_of):
        box = slices[int(e) - 1]
        assert box is not None
        pad = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
        region = extent_lab[pad] == e
        depth = ndi.distance_transform_edt(np.pad(region, 1), sampling=spacing)
        share = float(np.count_nonzero(metal[pad] & region)) / float(np.count_nonzero(region))
        contrast_extent[int(e)] = bool(float(depth.max()) >= cfg.min_lumen_depth_mm
                                       and share <= cfg.max_metal_share)
    parts = ndi.find_objects(metal_lab)
    for p in np.unique(part_of):
        sel = part_of == p
        if not contrast_extent[int(extent_of[sel][0])]:
            continue
        box = parts[int(p) - 1]
        assert box is not None
        core = ndi.distance_transform_edt(np.pad(metal_lab[box] == p, 1), sampling=spacing)
        out[sel] = float(core.max()) < cfg.min_lumen_depth_mm
    return out
