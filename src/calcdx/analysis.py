"""The CT analysis pipeline after reading: masks, detection, measurement, patterns.

:func:`analyze_volume` is pure: it takes a :class:`~calcdx.volume.Volume` and
:class:`AnalysisParameters` and returns an :class:`AnalysisResult`; writing
files is :mod:`calcdx.output`'s job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from calcdx._threads import map_split, submit
from calcdx.anatomy.labels import AnatomyHit, AnatomyLabels
from calcdx.findings.patterns import PatternCall, cluster_patterns, lesion_patterns
from calcdx.lesions.cluster import cluster_lesions, surface_voxels
from calcdx.lesions.detect import CONNECTIVITY, Detection, LesionVoxels, detect_lesions
from calcdx.lesions.thin_bone import ThinBoneConfig, without_thin_bone
from calcdx.masks.bone import BoneConfig, BoneResult
from calcdx.masks.contrast import ContrastConfig
from calcdx.masks.exclusions import ContrastAssessment, MetalObject
from calcdx.masks.grid import box_overlap
from calcdx.masks.injected import DenseContrastConfig, InjectedVeinConfig
from calcdx.masks.lumen import LumenConfig
from calcdx.masks.metal import StentConfig, StreakConfig
from calcdx.masks.region import RegionConfig, RegionSpan, body_regions
from calcdx.measure.agatston import agatston_rules, agatston_score, mass_score
from calcdx.measure.context import (
    ClusterStatistics,
    LesionContext,
    cluster_statistics,
    compartment_guess,
    surrounding_tissue,
)
from calcdx.measure.costal import (
    DEPTH_FAILURES,
    ChestWall,
    CostalCall,
    CostalConfig,
    costal_cartilage_call,
    free_segment_call,
    link_segments,
)
from calcdx.measure.cranial import CranialConfig, cranial_cavity, intracranial_fraction
from calcdx.measure.shape import ShapeMeasures, measure_shape
from calcdx.measure.vessel import VesselRules, VesselWall, WallCandidate, find_vessel_walls
from calcdx.volume import Volume

__all__ = [
    "AnalysisParameters",
    "AnalysisResult",
    "ClusterRecord",
    "LesionRecord",
    "MasksSummary",
    "Progress",
    "Totals",
    "analyze_volume",
]

#: ``progress(step, fraction)`` with fraction in [0, 1].
Progress = Callable[[str, float], None]


class AnalysisParameters(BaseModel):
    """Every threshold and size the analysis uses (HU, mm, mm^3)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold_hu: float = Field(130.0, description="mineral threshold, inclusive (Agatston)")
    min_volume_mm3: float = Field(1.5, ge=0, description="smallest lesion reported")
    min_area_mm2: float = Field(1.0, ge=0, description="Agatston minimum area per slice")
    calibration_mg_per_cm3_hu: float | None = Field(
        None, gt=0, description="mass calibration c_HA; None gives relative mass (HU x cm^3)"
    )
    cluster_distance_mm: float = Field(10.0, ge=0, description="single-linkage cluster distance")
    air_hu: float = -400.0
    table_gap_mm: float = 6.0
    coarse_grid_mm: float = 4.0
    thin_stack_mm: float = Field(
        20.0, description="stacks thinner than this use areas instead of volumes (mm)")
    bone: BoneConfig = Field(
        default_factory=BoneConfig, description="skeleton mask (calcdx.masks.bone)")
    noise_k: float = Field(
        5.0, ge=0, description="a lesion peaks this many noise SDs above soft tissue "
        "(Rose criterion, calcdx.lesions.noise)")
    noise_smoothing_mm: float = Field(
        1.0, gt=0, description="noisy images (tissue + noise_k SDs above threshold_hu: sharp "
        "kernel, low dose): a lesion keeps its voxels at or next to where an in-plane Gaussian "
        "of this SD (mm) reaches threshold_hu, detection only; Rose's model integrates signal "
        "over the object's area (Rose 1948), 1 mm is the scale of Agatston's 1 mm^2 least "
        "lesion (calcdx.lesions.noise)")
    metal_hu: float = 2500.0
    metal_margin_mm: float = 2.0
    metal_streak_radius_mm: float = 50.0
    streaks: StreakConfig = Field(
        default_factory=StreakConfig,
        description="bright metal streaks, neither skeleton nor lesion (calcdx.masks.metal)")
    stent: StentConfig = Field(
        default_factory=StentConfig,
        description="stents told from their struts under the metal threshold "
        "(calcdx.masks.metal)")
    contrast: ContrastConfig = Field(
        default_factory=ContrastConfig, description="contrast phase (calcdx.masks.contrast)")
    region: RegionConfig = Field(
        default_factory=RegionConfig, description="body region (calcdx.masks.region)")
    lumen: LumenConfig = Field(
        default_factory=LumenConfig,
        description="enhanced studies: the lumen continuous with the blood pool, kept out "
        "of the skeleton (calcdx.masks.lumen)")
    injected_vein: InjectedVeinConfig = Field(
        default_factory=InjectedVeinConfig,
        description="enhanced studies: undiluted contrast in the injected vein "
        "(calcdx.masks.injected)")
    dense_contrast: DenseContrastConfig = Field(
        default_factory=DenseContrastConfig,
        description="enhanced studies: contrast medium as dense as metal, in the lumen it "
        "fills, is not metal (calcdx.masks.injected)")
    contrast_min_volume_mm3: float = 2000.0
    contrast_small_min_volume_mm3: float = 200.0
    contrast_min_area_mm2: float = Field(
        150.0, description="thin stacks: in-plane area of a primary enhancing region (mm^2)")
    contrast_small_min_area_mm2: float = Field(
        20.0, description="thin stacks: in-plane area of a secondary enhancing region (mm^2)")
    contrast_min_hu: float = 150.0
    contrast_max_hu: float = 450.0
    contrast_max_sd_hu: float = 60.0
    plaque_delta_hu: float = 150.0
    enhancing_tissue_hu: float = Field(
        100.0, description="contrast studies: shell median of enhancing parenchyma (HU)")
    shell_mm: float = 2.0
    near_bone_mm: float = 20.0
    vessel_wall: VesselRules = Field(
        default_factory=VesselRules,
        description="plaque-lined tubes without contrast (calcdx.measure.vessel)")
    costal: CostalConfig = Field(
        default_factory=CostalConfig,
        description="calcified costal cartilage from the image (calcdx.measure.costal)")
    cranial: CranialConfig = Field(
        default_factory=CranialConfig,
        description="head lesions inside the cranial cavity, read from the skull "
        "(calcdx.measure.cranial)")
    thin_bone: ThinBoneConfig = Field(
        default_factory=ThinBoneConfig,
        description="head lesions that are partial-volume fragments of thin bone, not "
        "reported (calcdx.lesions.thin_bone)")


def _metal_notes(det: Detection, params: AnalysisParameters, affine: NDArray[np.float64]
                 ) -> list[str]:
    """What metal and stents kept from being assessed, for the reader (result.json, report)."""
    notes = []
    metal = det.metal
    if metal.objects:
        # the zone's slices: the metal's slices and one on either side, and their world z
        lo = max(metal.slice_range[0] - 1, 0)
        hi = min(metal.slice_range[1] + 1, det.label_map.shape[2] - 1)
        z0, z1 = (float(affine[2, 2] * k + affine[2, 3]) for k in (lo, hi))
        notes.append(
            f"metal present ({len(metal.objects)} object(s) >= {params.metal_hu:g} HU): not "
            f"assessed are mineral within {params.metal_margin_mm:g} mm of metal and within "
            f"{params.metal_streak_radius_mm:g} mm of it in slices {lo}-{hi} "
            f"(z {min(z0, z1):.0f} to {max(z0, z1):.0f} mm), where its streaks lie; that zone "
            f"holds {det.summary.get('metal_suppressed_volume_mm3', 0.0):.0f} mm^3 at or above "
            f"{params.threshold_hu:g} HU (metal, bone and streaks included), "
            f"{det.summary.get('metal_streak_volume_mm3', 0.0):.0f} mm^3 of it bright streaks "
            "kept out of the skeleton too")
    if det.stents:
        notes.append(
            f"{len(det.stents)} stent(s) found from their struts (a tubular lattice of dots "
            f">= {params.stent.strut_min_hu:g} HU of one density, calcdx.masks.metal): struts "
            f"and mineral within {params.stent.margin_mm:g} mm of them are not reported; wall "
            "calcification beyond that still is")
    return notes


class LesionRecord(BaseModel):
    """One lesion as written to ``result.json``."""

    model_config = ConfigDict(frozen=True)

    id: int
    centroid_mm: tuple[float, float, float]
    centroid_voxel: tuple[float, float, float]
    bbox_voxel_min: tuple[int, int, int]
    bbox_voxel_max: tuple[int, int, int]
    volume_mm3: float
    mean_hu: float
    peak_hu: float
    agatston: float
    mass: float
    origin: str
    matrix: str
    shape: ShapeMeasures
    context: LesionContext
    location: str | None
    region: str | None = None
    anatomy: AnatomyHit | None = None
    pattern: list[PatternCall]
    cluster_id: int | None = None
    vessel: VesselWall | None = None
    costal: CostalCall | None = None
    organ: str | None = None


class ClusterRecord(BaseModel):
    """A cluster of lesions as written to ``result.json``."""

    model_config = ConfigDict(frozen=True)

    id: int
    lesion_ids: tuple[int, ...]
    statistics: ClusterStatistics
    pattern: list[PatternCall]


class Totals(BaseModel):
    """Study totals."""

    model_config = ConfigDict(frozen=True)

    n_lesions: int
    n_clusters: int
    volume_mm3: float
    agatston: float
    mass: float
    mass_unit: str


class MasksSummary(BaseModel):
    """What the masks found and what was excluded."""

    model_config = ConfigDict(frozen=True)

    body_volume_mm3: float
    body_parts: int
    table_or_outside_removed: bool
    skeleton_volume_mm3: float
    skeleton_components: int
    excluded: dict[str, float]
    notes: list[str]
    regions: list[RegionSpan] = Field(default_factory=list)


@dataclass(frozen=True)
class AnalysisResult:
    """Everything :func:`analyze_volume` found.

    Attributes
    ----------
    parameters : AnalysisParameters
    rules : dict
        The Agatston rule set and detection rules, as written to ``result.json``.
    lesions : list of LesionRecord
    clusters : list of ClusterRecord
    totals : Totals
    masks : MasksSummary
    contrast : ContrastAssessment
    foreign_material : list of MetalObject
    label_map : (I, J, K) ndarray of uint16 or uint32
        Lesion id per voxel on the input grid, 0 elsewhere.
    """

    parameters: AnalysisParameters
    rules: dict[str, Any]
    lesions: list[LesionRecord]
    clusters: list[ClusterRecord]
    totals: Totals
    masks: MasksSummary
    contrast: ContrastAssessment
    foreign_material: list[MetalObject]
    label_map: NDArray[np.unsignedinteger[Any]]


def _bone_box(bone: BoneResult, lo: NDArray[np.intp], hi: NDArray[np.intp]
              ) -> tuple[NDArray[np.bool_], NDArray[np.uint32]]:
    """Bone mask and bone labels where the full-grid box ``[lo, hi)`` meets the bone's box.

    Views into `bone` (no copy); empty arrays when the boxes do not meet.
    """
    empty = (np.zeros((0, 0, 0), dtype=bool), np.zeros((0, 0, 0), dtype=np.uint32))
    if bone.filled.size == 0:
        return empty
    overlap = box_overlap(lo, hi, bone.offset, bone.filled.shape)
    if overlap is None:
        return empty
    src = overlap[1]
    return bone.filled[src], bone.bone_labels[src]


def _nearest_mm(tree: cKDTree, points: NDArray[np.float64]) -> float:
    """The least distance from `points` ((N, 3), N >= 1) to the points of `tree`.

    The same value as the minimum of a plain query of every point: a sample of the
    points bounds it first, then each point is searched only within that bound
    (a point farther away cannot hold the minimum), which prunes most of the tree.
    """
    step = max(1, len(points) // 64)
    bound = float(np.min(tree.query(points[::step], k=1)[0]))
    dist, _ = tree.query(points, k=1, distance_upper_bound=bound * (1.0 + 1e-9) + 1e-12)
    return float(np.min(dist))


def _context(
    les: LesionVoxels, hu_full: NDArray[Any], det: Detection, spacing: tuple[float, float, float],
    params: AnalysisParameters, coarse_bone_dist: NDArray[np.float32] | None,
    tissue: tuple[float | None, str | None], centroid_vox: NDArray[np.float64],
    vessel: VesselWall | None, boundary: NDArray[np.integer[Any]],
) -> LesionContext:
    """Skin and bone distances and compartment of one lesion.

    `boundary` holds the lesion's voxels with a 6-neighbour outside it: the
    nearest bone to the lesion is nearest to one of them (from an inner voxel, the
    neighbour toward that bone is a lesion voxel and closer).
    """
    shape = np.asarray(hu_full.shape)
    cidx = np.clip(np.round(centroid_vox).astype(np.intp), 0, shape - 1)[None, :]
    skin = float(det.body.skin_distance_at(cidx)[0])
    bone_dist: float | None = None
    n_bones = 0
    if det.bone.component_ids:
        assert coarse_bone_dist is not None
        cc = det.body.grid.to_coarse(les.ijk)
        bone_dist = float(coarse_bone_dist[cc[:, 0], cc[:, 1], cc[:, 2]].min())
        reach = params.near_bone_mm + max(det.body.grid.spacing_mm)
        if bone_dist <= reach:
            margin = np.ceil(params.near_bone_mm / np.asarray(spacing)).astype(np.intp)
            lo = np.maximum(les.ijk.min(axis=0) - margin, 0)
            hi = np.minimum(les.ijk.max(axis=0) + margin + 1, shape)
            filled, labels = _bone_box(det.bone, lo, hi)
            if filled.any():
                # bone labels are non-zero exactly on bone: count them there only
                n_bones = int(np.count_nonzero(np.bincount(labels[filled])[1:]))
                # Exact: nearest bone-surface voxel centre (as an EDT of the box gives).
                bone_dist = _nearest_mm(det.bone.surface_tree(spacing),
                                        boundary * np.asarray(spacing))
            else:
                bone_dist = max(bone_dist, params.near_bone_mm)
    if les.touches_bone:
        bone_dist = 0.0
    return LesionContext(
        skin_distance_mm=skin,
        bone_distance_mm=bone_dist,
        touches_bone=les.touches_bone,
        n_bones_nearby=n_bones,
        surrounding_median_hu=tissue[0],
        surrounding_tissue=tissue[1],
        compartment=compartment_guess(
            origin=les.origin, touches_bone=les.touches_bone, bone_distance_mm=bone_dist,
            n_bones_nearby=n_bones, skin_distance_mm=skin, tissue=tissue[1],
            vessel_wall=vessel is not None and vessel.accepted,
        ),
    )


def _costal(ijk: NDArray[np.integer[Any]], det: Detection, affine: NDArray[np.float64],
            region: str | None, params: AnalysisParameters, wall: ChestWall, *,
            labelled: bool = False, located: bool = False) -> CostalCall | None:
    """The costal-cartilage call of a lesion (calcdx.measure.costal).

    A lesion with cortex-less mineral split off bone gets the rib-end rule; one
    that fails it, or has none, the free-segment rule unless an anatomy label
    already gives its location (`located`: an organ's granuloma or stone stays
    the organ's). None when neither applies nor accepts, unless `labelled` (in an
    anatomy label of cartilage): its measures, side of the midline included, are
    then given beside the label.
    """
    cortexless = det.bone.in_cartilage(ijk)
    call: CostalCall | None = None
    if cortexless.any() or labelled:
        call = costal_cartilage_call(ijk, affine, cortexless=cortexless, region=region,
                                     body=det.body, config=params.costal, wall=wall)
    if (call is None or not call.accepted) and not located:
        free = free_segment_call(ijk, region=region, wall=wall, config=params.costal)
        # kept when accepted, labelled, or failing on depth alone (link_segments may take it)
        if free.accepted or labelled or (free.failed and set(free.failed) <= DEPTH_FAILURES):
            call = free
    return call


def _intracranial(records: list[dict[str, Any]], det: Detection, hu: NDArray[Any],
                  spacing: tuple[float, float, float], params: AnalysisParameters) -> None:
    """Head lesions at least half inside the cranial cavity carry the organ ``brain``.

    The cavity is read from the skeleton (:mod:`calcdx.measure.cranial`), once, and only
    when a lesion of region ``head_face`` carries no organ from anatomy labels. The
    records are changed in place (``location`` ``organ``, ``organ`` ``brain``).
    """
    ask = [i for i, r in enumerate(records) if r["region"] == "head_face"
           and (r["anatomy"] is None or r["anatomy"].organ is None)]
    if not ask or not det.bone.component_ids:
        return
    lo = det.bone.offset
    box = tuple(slice(int(o), int(o) + int(n)) for o, n in zip(lo, det.bone.filled.shape,
                                                                strict=True))
    cavity = cranial_cavity(det.bone.filled, np.asarray(hu[box]), spacing,
                            config=params.cranial)
    if not cavity.any():
        return
    for i in ask:
        if intracranial_fraction(cavity, det.lesions[i].ijk, lo) >= 0.5:
            records[i]["location"] = "organ"
            records[i]["organ"] = "brain"


def _region_of(les: LesionVoxels, region_map: Any, anatomy: AnatomyLabels | None) -> str:
    """A lesion's region: its anatomy label's, else the image's at its centroid."""
    hit = anatomy.hit(les.ijk) if anatomy is not None else None
    if hit is not None and hit.region is not None:
        return str(hit.region)
    return str(region_map.at(les.ijk.mean(axis=0)))


def analyze_volume(
    volume: Volume,
    params: AnalysisParameters | None = None,
    *,
    progress: Progress | None = None,
    anatomy: AnatomyLabels | None = None,
) -> AnalysisResult:
    """Find, separate and measure every soft-tissue calcification in a CT volume.

    Parameters
    ----------
    volume : Volume
        The CT (HU, affine in mm).
    params : AnalysisParameters, optional
        Thresholds and sizes; defaults when omitted.
    progress : callable, optional
        ``progress(step, fraction)`` is called as the analysis advances.
    anatomy : AnatomyLabels, optional
        TotalSegmentator's labels on the volume's grid (:func:`calcdx.anatomy.load_anatomy`):
        bone, lumens and organs come from them, and each lesion carries the structure it
        lies in or touches (its organ, location and region).

    Returns
    -------
    AnalysisResult
    """
    params = params or AnalysisParameters()

    def report(step: str, fraction: float) -> None:
        if progress is not None:
            progress(step, fraction)

    hu = volume.hu
    affine = volume.affine
    spacing = volume.spacing_mm
    # The body region reads only the HU: called on a second core during the detection,
    # after its contrast phase (calcdx._threads).
    regions: list[Any] = []
    det = detect_lesions(
        hu, affine, params, progress=report, metadata=volume.metadata, anatomy=anatomy,
        beside=lambda: regions.append(body_regions(
            hu, affine, config=params.region,
            body_part=volume.metadata.get("body_part_examined"))))

    report("body region", 0.58)
    region_map = regions[0]
    # Thin plates of the face and skull base in thick slices (calcdx.lesions.thin_bone)
    det = without_thin_bone(det, hu, spacing, [_region_of(les, region_map, anatomy)
                                               for les in det.lesions], params.thin_bone)

    report("measuring lesions", 0.6)
    coarse_bone_dist = None
    if det.bone.component_ids:
        grid = det.body.grid
        centres = [
            np.minimum(np.arange(n) * f + f // 2, full - 1)
            for n, f, full in zip(grid.shape, grid.factors, grid.full_shape, strict=True)
        ]
        lo = np.asarray(det.bone.offset)
        inside = [(c >= o) & (c < o + s) for c, o, s in zip(centres, lo, det.bone.filled.shape,
                                                              strict=True)]
        occ = np.zeros(grid.shape, dtype=bool)
        sub = det.bone.filled[np.ix_(*(c[m] - o for c, m, o in zip(centres, inside, lo,
                                                                     strict=True)))]
        occ[np.ix_(*(np.flatnonzero(m) for m in inside))] = sub
        coarse_bone_dist = (
            ndi.distance_transform_edt(~occ, sampling=grid.spacing_mm).astype(np.float32)
            if occ.any() else np.full(grid.shape, np.inf, dtype=np.float32)
        )

    calib = params.calibration_mg_per_cm3_hu
    c_value = calib if calib is not None else 1.0
    shell_vox = np.ceil(params.shell_mm / np.asarray(spacing)).astype(np.intp) + 1
    shape_arr = np.asarray(hu.shape)
    records: list[dict[str, Any]] = []
    n_les = max(len(det.lesions), 1)

    def measure(les: LesionVoxels) -> tuple[
            tuple[ShapeMeasures, tuple[float | None, str | None], NDArray[np.float64]],
            NDArray[np.integer[Any]], NDArray[np.float64]]:
        lo = np.maximum(les.ijk.min(axis=0) - shell_vox, 0)
        hi = np.minimum(les.ijk.max(axis=0) + shell_vox + 1, shape_arr)
        box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        mask = np.zeros(tuple(int(v) for v in hi - lo), dtype=bool)
        local = les.ijk - lo
        mask[local[:, 0], local[:, 1], local[:, 2]] = True
        hu_crop = np.asarray(hu[box], dtype=np.float32)
        shape_m = measure_shape(mask, hu_crop, affine, threshold_hu=params.threshold_hu)
        tissue = surrounding_tissue(mask, hu_crop, spacing, shell_mm=params.shell_mm)
        boundary = surface_voxels(les.ijk)
        return (shape_m, tissue, les.ijk.mean(axis=0)), boundary, volume.world_mm(boundary)

    # Each lesion is measured on its own crop: half of them on a second core
    # (calcdx._threads), the same values.
    done = map_split(measure, det.lesions)
    measured = [d[0] for d in done]
    boundaries = [d[1] for d in done]
    surfaces = [d[2] for d in done]
    del done

    report("vessel walls", 0.8)
    walls = find_vessel_walls(
        [WallCandidate(les.id, les.ijk, m[0], les.touches_bone)
         for les, m in zip(det.lesions, measured, strict=True) if les.origin != "bone_adjacent"],
        hu, affine, enhanced=det.contrast.enhanced, rules=params.vessel_wall,
    )
    if det.bone.component_ids and det.lesions:
        det.bone.surface_tree(spacing)  # built (and cached) once, before the threads read it
    contexts = map_split(
        lambda i: _context(det.lesions[i], hu, det, spacing, params, coarse_bone_dist,
                           measured[i][1], measured[i][2], walls.get(det.lesions[i].id),
                           boundaries[i]),
        list(range(len(det.lesions))))
    # the clusters read only the lesions' surfaces: on a second core while the lesions'
    # records are built (calcdx._threads)
    groups_job = submit(cluster_lesions, surfaces, distance_mm=params.cluster_distance_mm)
    wall = ChestWall.build(
        det.body, affine, spacing,
        det.bone.surface_tree(spacing) if det.bone.component_ids else None)
    for i, (les, (shape_m, _tissue, centroid_vox)) in enumerate(
            zip(det.lesions, measured, strict=True)):
        if i % 20 == 0:
            report("lesion context", 0.81 + 0.1 * i / n_les)
        vessel = walls.get(les.id)
        context = contexts[i]
        mean_hu = float(les.hu.mean())
        volume_mm3 = shape_m.volume_mm3
        patterns = lesion_patterns(shape_m, origin=les.origin, vessel=vessel)
        ossified = any(p.pattern == "zonal_peripheral" for p in patterns) and float(
            les.hu.max()) >= 600.0
        hit = anatomy.hit(les.ijk) if anatomy is not None else None
        region = (hit.region if hit is not None and hit.region is not None
                  else region_map.at(centroid_vox))
        costal = _costal(les.ijk, det, affine, region, params, wall,
                         labelled=hit is not None and hit.location == "cartilage_nonarticular",
                         located=hit is not None and hit.location is not None)
        location = (hit.location if hit is not None and hit.location is not None
                    else "cartilage_nonarticular" if costal is not None and costal.accepted
                    else context.compartment)
        if costal is not None and costal.accepted and (hit is None or hit.region is None):
            region = "chest_wall"
        records.append(dict(
            id=les.id,
            centroid_mm=tuple(float(v) for v in volume.world_mm(centroid_vox)),
            centroid_voxel=tuple(float(v) for v in centroid_vox),
            bbox_voxel_min=tuple(int(v) for v in les.ijk.min(axis=0)),
            bbox_voxel_max=tuple(int(v) for v in les.ijk.max(axis=0)),
            volume_mm3=volume_mm3,
            mean_hu=mean_hu,
            peak_hu=float(les.hu.max()),
            agatston=agatston_score(les.ijk, les.hu, spacing, min_area_mm2=params.min_area_mm2),
            mass=mass_score(mean_hu, volume_mm3, c_value),
            origin=les.origin,
            matrix="ossification" if ossified else "calcification",
            shape=shape_m,
            context=context,
            location=location,
            region=region,
            anatomy=hit,
            costal=costal,
            pattern=patterns,
            vessel=vessel,
        ))

    # segments of a cartilage already read, along the chain (calcdx.measure.costal)
    linked = link_segments(
        [r["costal"] for r in records],
        np.array([r["centroid_mm"] for r in records], dtype=np.float64).reshape(-1, 3),
        [int(r["id"]) for r in records],
        margin_mm=params.costal.depth_margin_cells * float(max(det.body.grid.spacing_mm)),
        config=params.costal)
    for r, call in zip(records, linked, strict=True):
        if call is not None and call.accepted and r["costal"] is not call:
            r["costal"] = call
            hit_r = r["anatomy"]
            if hit_r is None or hit_r.location is None:
                r["location"] = "cartilage_nonarticular"
            if hit_r is None or hit_r.region is None:
                r["region"] = "chest_wall"

    _intracranial(records, det, hu, spacing, params)

    report("clusters", 0.92)
    groups = groups_job.result()
    clusters: list[ClusterRecord] = []
    members: dict[int, list[int]] = {}
    for idx, g in enumerate(groups):
        members.setdefault(int(g), []).append(idx)
    multi = sorted((m for m in members.values() if len(m) >= 2), key=lambda m: min(m))
    for cid, m in enumerate(multi, start=1):
        recs = [records[j] for j in m]
        stats = cluster_statistics(
            volumes_mm3=np.array([r["volume_mm3"] for r in recs]),
            mean_hu=np.array([r["mean_hu"] for r in recs]),
            peak_hu=np.array([r["peak_hu"] for r in recs]),
            agatston=np.array([r["agatston"] for r in recs]),
            mass=np.array([r["mass"] for r in recs]),
            centroids_mm=np.array([r["centroid_mm"] for r in recs]),
            elongations=np.array([r["shape"].elongation for r in recs]),
            major_axes=np.array([r["shape"].major_axis_direction for r in recs]),
        )
        for r in recs:
            r["cluster_id"] = cid
        clusters.append(ClusterRecord(
            id=cid, lesion_ids=tuple(int(r["id"]) for r in recs), statistics=stats,
            pattern=cluster_patterns(stats),
        ))
    lesions = [LesionRecord(**r) for r in records]

    mass_unit = "mg hydroxyapatite" if calib is not None else "relative mass, HU x cm^3 (c = 1)"
    totals = Totals(
        n_lesions=len(lesions), n_clusters=len(clusters),
        volume_mm3=float(sum(r.volume_mm3 for r in lesions)),
        agatston=float(sum(r.agatston for r in lesions)),
        mass=float(sum(r.mass for r in lesions)),
        mass_unit=mass_unit,
    )
    notes = [
        "voxel-count volume is primary; mesh volume is given for reference",
        f"skin distances, and bone distances beyond {params.near_bone_mm:g} mm, come from a "
        f"~{params.coarse_grid_mm:g} mm coarse grid",
    ]
    n_plates = det.summary.get("thin_bone_components", 0.0)
    if n_plates:
        notes.append(
            f"head: {n_plates:.0f} partial-volume fragment(s) of thin bone (plates between "
            f"air or fat cavities, joined to the skeleton, "
            f"{det.summary.get('thin_bone_volume_mm3', 0.0):.0f} mm^3) not reported "
            "(calcdx.lesions.thin_bone)")
    if det.contrast.enhanced:
        notes.append(
            "contrast-enhanced study: enhancing lumens and organs suppressed; "
            + det.contrast.plaque_rule
        )
        n_veins = det.summary.get("injected_vein_components", 0.0)
        if n_veins:
            notes.append(
                f"contrast-enhanced study: {n_veins:.0f} long filled tube(s) of undiluted "
                "contrast (densest at the centre, reaching the edge of the scan: the injected "
                f"vein) not reported, {det.summary.get('injected_vein_volume_mm3', 0.0):.0f} "
                "mm^3 (calcdx.masks.injected)")
        floor = det.summary.get("blood_pool_floor_hu")
        if floor is not None:
            notes.append(
                f"contrast-enhanced study: mineral peaking under {floor:.0f} HU (the blood "
                f"pool + {params.noise_k:g} noise SDs) cannot be told from small enhanced "
                f"vessels and is not reported unless within {params.cluster_distance_mm:g} mm "
                "of a denser lesion; "
                f"{det.summary.get('below_blood_pool_components', 0.0):.0f} such component(s)")
    if anatomy is not None:
        notes.append(
            f"anatomy from {anatomy.source}: its bone classes (grown one voxel) are skeleton; "
            "in an enhanced study its vessels and organs exclude voxels below their median "
            f"+ {params.plaque_delta_hu:g} HU; each lesion carries the structure it lies in")
        notes += anatomy.notes
    notes += _metal_notes(det, params, affine)
    masks = MasksSummary(
        body_volume_mm3=det.body.volume_mm3,
        body_parts=det.body.n_parts,
        table_or_outside_removed=det.body.table_removed,
        skeleton_volume_mm3=det.bone.volume_mm3,
        skeleton_components=len(det.bone.component_ids),
        excluded=det.summary,
        notes=notes,
        regions=region_map.spans,
    )
    rules = {
        "agatston": agatston_rules(
            threshold_hu=params.threshold_hu, min_area_mm2=params.min_area_mm2,
            calibration_mg_per_cm3_hu=calib,
        ),
        "detection": {
            "threshold_hu": params.threshold_hu,
            "comparison": ">=",
            "connectivity": CONNECTIVITY,
            "library": "connected-components-3d",
            "min_volume_mm3": params.min_volume_mm3,
            "cluster_distance_mm": params.cluster_distance_mm,
            "cluster_linkage": "single linkage on nearest voxel-centre distance",
        },
        "vessel_wall": {
            "summary": params.vessel_wall.summary(),
            **params.vessel_wall.model_dump(),
        },
    }
    report("done", 1.0)
    return AnalysisResult(
        parameters=params, rules=rules, lesions=lesions, clusters=clusters, totals=totals,
        masks=masks, contrast=det.contrast, foreign_material=[*det.metal.objects, *det.stents],
        label_map=det.label_map,
    )
