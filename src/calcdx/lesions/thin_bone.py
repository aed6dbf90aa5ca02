"""Thin bone of the face and skull base: plates between air or fat cavities, not lesions.

The nasal septum, turbinates, ethmoid plates, walls of the maxillary sinuses, orbital
walls and pterygoid plates are sub-millimetre plates. In thick slices (4-5 mm) partial
volume lowers them to 130-350 HU, they fall apart into fragments detached from the
skeleton mask (:mod:`calcdx.masks.bone`), and each fragment would be reported as a
soft-tissue calcification. What makes them bone is where they lie: a plate separates
two cavities (air of the nasal cavity, the sinuses or the mastoid, fat of the orbit,
cheek or infratemporal fossa), so low-density tissue lies close on *both* sides of it,
and it is continuous with the skeleton through the neighbouring slices. Real
calcification of the head lies in soft tissue or CSF (choroid plexus glomus, pineal,
falx, vessel walls, tonsilloliths, sialoliths, lymph nodes): tissue lies around it on
at least one side of every line through it.

Rule
----
A lesion of region ``head_face`` is thin bone, and is not reported, when all hold:

1. *between cavities*: at least ``min_fraction`` of its voxels see, along some in-plane
   line through them, low-density tissue (HU below ``low_hu``; not air outside the
   patient, i.e. air joined to the edge of its slice) within ``reach_mm`` on both sides
   (``directions`` directions, i.e. ``directions / 2`` lines); the reach is the larger
   of ``reach_floor_mm`` and the slice thickness;
2. *on the skeleton*: a voxel of the skeleton mask lies within ``skeleton_reach_slices``
   slice thicknesses (3-D), at least ``skeleton_reach_floor_mm``, of a lesion voxel;
3. *at partial-volume density*: its peak is at most the density a plate of
   ``plate_mm`` of compact bone (``compact_bone_hu``) reaches averaged over the slice
   thickness on soft tissue (``tissue_hu``).

Only the head's lesions are judged (the thorax holds pleural plaques between lung and
extrapleural fat on the ribs, which are lesions).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage as ndi

from calcdx.lesions.detect import Detection, LesionVoxels

if TYPE_CHECKING:
    from calcdx.masks.bone import BoneResult

__all__ = ["ThinBoneConfig", "thin_bone_lesions", "without_thin_bone"]


class ThinBoneConfig(BaseModel):
    """When a head lesion is a partial-volume fragment of thin bone (HU, mm)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    regions: tuple[str, ...] = Field(
        ("head_face",), description="regions judged (calcdx.masks.region): the face and "
        "skull base hold the thin plates; the thorax holds pleural plaques between lung and "
        "fat, which are lesions")
    low_hu: float = Field(
        -30.0, description="low-density tissue: fat is -190 to -30 HU (the usual CT fat "
        "window), air and the partial volume of air with mucosa lie below it; soft tissue, "
        "CSF and blood lie above")
    reach_floor_mm: float = Field(
        3.0, gt=0, description="least in-plane reach to the cavity on each side: half the "
        "130 HU footprint of a blurred sub-millimetre plate (about 1-2 mm) plus its mucosa "
        "or periosteum (about 1 mm); heuristic")
    directions: int = Field(
        16, ge=4, multiple_of=2, description="in-plane ray directions (22.5 degrees apart), "
        "in opposite pairs")
    min_fraction: float = Field(
        0.5, gt=0, le=1, description="share of the lesion's voxels lying between cavities: "
        "most of a plate fragment does; a deposit in tissue has none (heuristic, a majority)")
    skeleton_reach_slices: float = Field(
        2.0, gt=0, description="skeleton within this many slice thicknesses (3-D): a plate "
        "cut obliquely joins the skeleton through partial-volume voxels of the neighbouring "
        "slices; two slices allow one slice of plate under the threshold between them")
    skeleton_reach_floor_mm: float = Field(
        5.0, gt=0, description="least skeleton reach in thin slices (mm), about the "
        "thickness of the face's mucosa-lined cavity walls with their partial volume")
    plate_mm: float = Field(
        1.0, gt=0, description="thickness of the face's thin plates: nasal septum, lamina "
        "papyracea, turbinates, sinus walls are at most about 1 mm (sub-millimetre plates)")
    compact_bone_hu: float = Field(
        1900.0, gt=0, description="dense compact bone on CT (heuristic upper value; a "
        "larger one only loosens rule 3)")
    tissue_hu: float = Field(40.0, description="soft tissue the plate is averaged with")
    air_hu: float = Field(
        -400.0, description="air, for the air outside the patient (the body mask's value, "
        "between lung and fat)")


class _Outside:
    """Air outside the patient, slice by slice: air connected to the edge of its slice.

    The nasal cavity opens through the nostrils and is not inside the body mask's
    filled outline, yet it is a cavity; what reaches the edge of the slice through
    air is outside (the room, the nostril's opening itself).
    """

    def __init__(self, hu: NDArray[Any], air_hu: float) -> None:
        self.hu = hu
        self.air_hu = air_hu
        self.planes: dict[int, NDArray[np.bool_]] = {}

    def at(self, k: int) -> NDArray[np.bool_]:
        if k not in self.planes:
            lab, _ = ndi.label(np.asarray(self.hu[:, :, k]) < self.air_hu)
            edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
            self.planes[k] = np.isin(lab, edge[edge > 0])
        return self.planes[k]


def _low_on_both_sides(hu: NDArray[Any], outside: _Outside, ijk: NDArray[np.integer[Any]],
                       spacing: tuple[float, float, float], reach_mm: float,
                       cfg: ThinBoneConfig) -> NDArray[np.bool_]:
    """Per voxel: low-density tissue within ``reach_mm`` in-plane on both sides of a line."""
    shape = np.asarray(hu.shape)
    ks = np.unique(ijk[:, 2])
    out_k = np.stack([outside.at(int(k)) for k in ks], axis=-1)
    k_index = np.searchsorted(ks, ijk[:, 2])
    n_dir = cfg.directions
    step_mm = 0.5 * min(spacing[0], spacing[1])
    steps = np.arange(step_mm, reach_mm + 1e-6, step_mm)
    hit = np.zeros((len(ijk), n_dir), dtype=bool)
    for d in range(n_dir):
        a = 2.0 * np.pi * d / n_dir
        for t in steps:
            p = np.empty_like(ijk)
            p[:, 0] = np.rint(ijk[:, 0] + np.cos(a) * t / spacing[0])
            p[:, 1] = np.rint(ijk[:, 1] + np.sin(a) * t / spacing[1])
            p[:, 2] = ijk[:, 2]
            p = np.clip(p, 0, shape - 1)
            low = (hu[p[:, 0], p[:, 1], p[:, 2]] < cfg.low_hu) & ~out_k[p[:, 0], p[:, 1],
                                                                        k_index]
            hit[:, d] |= low
    return np.asarray((hit & np.roll(hit, n_dir // 2, axis=1)).any(axis=1))


def _near_skeleton(ijk: NDArray[np.integer[Any]], bone: BoneResult,
                   shape: tuple[int, int, int], spacing: tuple[float, float, float],
                   reach_mm: float) -> bool:
    """Whether a skeleton voxel lies within ``reach_mm`` (3-D) of a lesion voxel."""
    pad = np.ceil(reach_mm / np.asarray(spacing)).astype(np.intp) + 1
    lo = np.maximum(ijk.min(axis=0) - pad, 0)
    hi = np.minimum(ijk.max(axis=0) + pad + 1, np.asarray(shape))
    grid = np.stack(np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi, strict=True)),
                                indexing="ij"), axis=-1).reshape(-1, 3)
    skel = bone.in_bone(grid).reshape(tuple(int(v) for v in hi - lo))
    if not skel.any():
        return False
    mask = np.zeros(skel.shape, dtype=bool)
    local = ijk - lo
    mask[local[:, 0], local[:, 1], local[:, 2]] = True
    dist = ndi.distance_transform_edt(~mask, sampling=spacing)
    return bool((skel & (dist <= reach_mm)).any())


def thin_bone_lesions(
    lesions: list[LesionVoxels],
    regions: list[str],
    hu: NDArray[Any],
    spacing_mm: tuple[float, float, float],
    bone: BoneResult,
    config: ThinBoneConfig | None = None,
) -> list[bool]:
    """Which lesions are partial-volume fragments of thin bone (module rule).

    Parameters
    ----------
    lesions : list of LesionVoxels
        Detected lesions (:func:`calcdx.lesions.detect.detect_lesions`).
    regions : list of str
        Body region of each lesion (:mod:`calcdx.masks.region`).
    hu : (I, J, K) ndarray
        CT in HU; axis 2 is the slice axis.
    spacing_mm : tuple of float
        Voxel size (mm), slice thickness last.
    bone : BoneResult
        The skeleton mask.
    config : ThinBoneConfig, optional

    Returns
    -------
    list of bool
        True for a lesion that is thin bone.
    """
    cfg = config or ThinBoneConfig()
    if len(regions) != len(lesions):
        raise ValueError(f"thin_bone_lesions: {len(lesions)} lesions but {len(regions)} "
                         "regions; give one region per lesion")
    slice_mm = float(spacing_mm[2])
    reach = max(cfg.reach_floor_mm, slice_mm)
    skeleton_reach = max(cfg.skeleton_reach_floor_mm, cfg.skeleton_reach_slices * slice_mm)
    peak_max = cfg.tissue_hu + (cfg.compact_bone_hu - cfg.tissue_hu) * min(
        1.0, cfg.plate_mm / slice_mm)
    shape = (int(hu.shape[0]), int(hu.shape[1]), int(hu.shape[2]))
    outside = _Outside(hu, cfg.air_hu)
    out: list[bool] = []
    for les, region in zip(lesions, regions, strict=True):
        if region not in cfg.regions or float(les.hu.max()) > peak_max:
            out.append(False)
            continue
        between = _low_on_both_sides(hu, outside, les.ijk, spacing_mm, reach, cfg)
        out.append(bool(between.mean() >= cfg.min_fraction)
                   and _near_skeleton(les.ijk, bone, shape, spacing_mm, skeleton_reach))
    return out


def without_thin_bone(det: Detection, hu: NDArray[Any], spacing_mm: tuple[float, float, float],
                      regions: list[str], config: ThinBoneConfig | None = None) -> Detection:
    """The detection without its thin-bone lesions, renumbered 1..N in the same order.

    Parameters
    ----------
    det : Detection
    hu : (I, J, K) ndarray
        CT in HU.
    spacing_mm : tuple of float
        Voxel size (mm), slice thickness last.
    regions : list of str
        Body region of each of ``det.lesions``.
    config : ThinBoneConfig, optional

    Returns
    -------
    Detection
        ``det`` itself when none is thin bone; else a copy whose summary counts them
        (``thin_bone_components``, ``thin_bone_volume_mm3``).
    """
    drop = thin_bone_lesions(det.lesions, regions, hu, spacing_mm, det.bone, config)
    if not any(drop):
        return det
    lut = np.zeros(len(det.lesions) + 1, dtype=det.label_map.dtype)
    kept: list[LesionVoxels] = []
    for les, gone in zip(det.lesions, drop, strict=True):
        if not gone:
            kept.append(replace(les, id=len(kept) + 1))
            lut[les.id] = len(kept)
    label_map = np.asfortranarray(lut[det.label_map])
    vv = float(np.prod(spacing_mm))
    summary = dict(det.summary)
    summary["thin_bone_components"] = float(sum(drop))
    summary["thin_bone_volume_mm3"] = vv * float(
        sum(len(les.ijk) for les, gone in zip(det.lesions, drop, strict=True) if gone))
    summary["lesions"] = float(len(kept))
    return replace(det, label_map=label_map, lesions=kept, summary=summary)
