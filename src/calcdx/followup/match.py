"""Match lesions between a baseline and a registered follow-up, and label each change.

Pure functions over arrays on the baseline grid; see :func:`match_lesions`.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

__all__ = ["ChangeConfig", "LesionChange", "LesionSnapshot", "lesion_snapshots", "match_lesions"]

Status = Literal["new", "grown", "shrunk", "resolved", "stable", "indeterminate"]
#: Statuses that are a change.
CHANGES = ("new", "grown", "shrunk", "resolved")


class ChangeConfig(BaseModel):
    """How a change is called; each value's basis is stated.

    Attributes
    ----------
    relative_tolerance : float
        Volume changes within this fraction are stable (heuristic: calcium volume scores
        vary between repeat scans, and Hokanson et al., AJR 2004;182:1327-1332, show that
        the variability must be allowed for before a change is called; 15 % is chosen here,
        not taken from them).
    surface_layer_voxels : float
        Volume changes within a layer this many voxels thick over the lesion's surface are
        stable too: thresholding a partial-volume edge can move the boundary by a fraction
        of a voxel between scans (heuristic: a quarter voxel), which dominates for small
        lesions.
    match_distance_mm : float
        Unoverlapping lesions whose centres (after registration) are closer than this, or
        than 1.5 equivalent-sphere radii, are the same lesion (heuristic).
    present_fraction : float
        A lesion without a partner is ``new`` (or ``resolved``) only when fewer than this
        fraction of its voxels reach the mineral threshold in the other scan; otherwise it
        is ``indeterminate`` (merged with a neighbour or below the size floor there).
    maturing_rim_hu : float
        A matched lesion whose rim mean HU rose by more than this is flagged as maturing
        (a zonal rim growing denser: maturing myositis ossificans; heuristic, 50 HU being
        well above the noise of a mean over a rim of tens of voxels).
    min_call_voxels : int
        A lesion without a partner that has fewer voxels than this is ``indeterminate``,
        not new or resolved: one or two voxels over the threshold are within reach of noise
        (heuristic; the Agatston minimum area of 1 mm^2 is two to three pixels).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    relative_tolerance: float = Field(0.15, ge=0)
    surface_layer_voxels: float = Field(0.25, ge=0)
    match_distance_mm: float = Field(5.0, ge=0)
    present_fraction: float = Field(0.5, gt=0, le=1)
    maturing_rim_hu: float = 50.0
    min_call_voxels: int = Field(3, ge=1)


class LesionSnapshot(BaseModel):
    """One lesion of one scan, as the matcher needs it.

    Attributes
    ----------
    id : int
        Label value in the scan's label map.
    volume_mm3 : float
    mean_hu, rim_hu : float
        Mean HU of the lesion and of its outer one-voxel shell.
    centroid_mm : tuple of 3 float
        Patient coordinates in the scan's own space.
    voxel_count : int
    """

    model_config = ConfigDict(frozen=True)

    id: int
    volume_mm3: float
    mean_hu: float
    rim_hu: float
    centroid_mm: tuple[float, float, float]
    voxel_count: int


class LesionChange(BaseModel):
    """One baseline/follow-up pairing and its label.

    Attributes
    ----------
    status : {"new", "grown", "shrunk", "resolved", "stable", "indeterminate"}
    baseline_id, followup_id : int or None
    baseline_volume_mm3, followup_volume_mm3 : float or None
    volume_change_mm3 : float or None
    volume_change_pct : float or None
    baseline_mean_hu, followup_mean_hu, mean_hu_change : float or None
    rim_hu_change : float or None
    maturing : bool
        Rim grew denser by more than :attr:`ChangeConfig.maturing_rim_hu`.
    centroid_mm : tuple of 3 float
        In baseline patient coordinates.
    note : str
    """

    model_config = ConfigDict(frozen=True)

    status: Status
    baseline_id: int | None = None
    followup_id: int | None = None
    baseline_volume_mm3: float | None = None
    followup_volume_mm3: float | None = None
    volume_change_mm3: float | None = None
    volume_change_pct: float | None = None
    baseline_mean_hu: float | None = None
    followup_mean_hu: float | None = None
    mean_hu_change: float | None = None
    rim_hu_change: float | None = None
    maturing: bool = False
    centroid_mm: tuple[float, float, float]
    note: str = ""


def lesion_snapshots(
    labels: NDArray[Any], hu: NDArray[Any], affine: NDArray[np.float64]
) -> list[LesionSnapshot]:
    """Measure every labelled lesion of a scan (volume, mean and rim HU, centroid).

    Parameters
    ----------
    labels : (I, J, K) ndarray of int
        Lesion label map (0 = background).
    hu : (I, J, K) ndarray
        CT values in HU on the same grid.
    affine : (4, 4) ndarray
        Voxel index -> patient mm.

    Returns
    -------
    list of LesionSnapshot
        One per label present, by label.
    """
    voxel_mm3 = float(abs(np.linalg.det(affine[:3, :3])))
    out = []
    for index, box in enumerate(ndimage.find_objects(labels.astype(np.int64)), start=1):
        if box is None:
            continue
        mask = labels[box] == index
        values = np.asarray(hu[box], dtype=np.float64)
        shell = mask & ~ndimage.binary_erosion(mask)
        ijk = np.argwhere(mask).mean(axis=0) + np.array([s.start for s in box])
        centre = affine[:3, :3] @ ijk + affine[:3, 3]
        out.append(LesionSnapshot(
            id=index, volume_mm3=float(mask.sum()) * voxel_mm3,
            mean_hu=float(values[mask].mean()), rim_hu=float(values[shell].mean()),
            centroid_mm=(float(centre[0]), float(centre[1]), float(centre[2])),
            voxel_count=int(mask.sum()),
        ))
    return out


def _tolerance_mm3(volume_mm3: float, voxel_mm: float, config: ChangeConfig) -> float:
    area_mm2 = (36.0 * np.pi * volume_mm3**2) ** (1.0 / 3.0)  # equivalent sphere
    return float(max(config.relative_tolerance * volume_mm3,
               config.surface_layer_voxels * voxel_mm * area_mm2))


def match_lesions(
    baseline: list[LesionSnapshot],
    followup: list[LesionSnapshot],
    *,
    baseline_labels: NDArray[Any],
    baseline_hu: NDArray[Any],
    followup_labels_on_baseline: NDArray[Any],
    followup_hu_on_baseline: NDArray[Any],
    baseline_affine: NDArray[np.float64],
    baseline_to_followup: NDArray[np.float64],
    voxel_mm: float,
    threshold_hu: float,
    config: ChangeConfig | None = None,
) -> list[LesionChange]:
    """Pair lesions by overlap (then by distance) and call each change.

    Parameters
    ----------
    baseline, followup : list of LesionSnapshot
        Each scan's lesions, measured on its own grid (volumes are compared from these,
        so resampling does not bias them).
    baseline_labels, baseline_hu : (I, J, K) ndarray
        Baseline label map and HU.
    followup_labels_on_baseline, followup_hu_on_baseline : (I, J, K) ndarray
        The follow-up's label map (nearest neighbour) and HU (linear) resampled onto the
        baseline grid through the registration.
    baseline_affine : (4, 4) ndarray
    baseline_to_followup : (4, 4) ndarray
        Registration matrix (baseline mm -> follow-up mm).
    voxel_mm : float
        Typical voxel edge (the coarser scan's geometric mean), for the surface tolerance.
    threshold_hu : float
        The mineral threshold used by the analysis.
    config : ChangeConfig, optional

    Returns
    -------
    list of LesionChange
        Matched pairs first (by baseline id), then resolved, then new lesions.
    """
    config = config or ChangeConfig()
    base = {s.id: s for s in baseline}
    follow = {s.id: s for s in followup}
    both = (baseline_labels > 0) & (followup_labels_on_baseline > 0)
    pairs, counts = np.unique(
        np.stack([baseline_labels[both], followup_labels_on_baseline[both]]).astype(np.int64),
        axis=1, return_counts=True)
    matched: dict[int, int] = {}
    used: set[int] = set()
    for column in np.argsort(-counts, kind="stable"):
        b, f = int(pairs[0, column]), int(pairs[1, column])
        if b in base and f in follow and b not in matched and f not in used:
            matched[b] = f
            used.add(f)
    to_baseline = np.linalg.inv(baseline_to_followup)
    for b in sorted(set(base) - set(matched)):
        point = np.asarray(base[b].centroid_mm)
        radius = (3.0 * base[b].volume_mm3 / (4.0 * np.pi)) ** (1.0 / 3.0)
        limit = max(config.match_distance_mm, 1.5 * radius)
        best: tuple[float, int] | None = None
        for f in sorted(set(follow) - used):
            mapped = to_baseline[:3, :3] @ np.asarray(follow[f].centroid_mm) + to_baseline[:3, 3]
            distance = float(np.linalg.norm(mapped - point))
            if distance <= limit and (best is None or distance < best[0]):
                best = (distance, f)
        if best is not None:
            matched[b] = best[1]
            used.add(best[1])

    changes = [_pair(base[b], follow[f], voxel_mm, config) for b, f in sorted(matched.items())]
    for b in sorted(set(base) - set(matched)):
        mask = baseline_labels == b
        present = float(np.mean(followup_hu_on_baseline[mask] >= threshold_hu))
        gone = present < config.present_fraction and base[b].voxel_count >= config.min_call_voxels
        changes.append(LesionChange(
            status="resolved" if gone else "indeterminate", baseline_id=b,
            baseline_volume_mm3=base[b].volume_mm3, baseline_mean_hu=base[b].mean_hu,
            centroid_mm=base[b].centroid_mm,
            note="" if gone else _unpaired_note(base[b].voxel_count, present, config, "follow-up"),
        ))
    for f in sorted(set(follow) - used):
        mask = followup_labels_on_baseline == f
        where = to_baseline[:3, :3] @ np.asarray(follow[f].centroid_mm) + to_baseline[:3, 3]
        centre = (float(where[0]), float(where[1]), float(where[2]))
        if not mask.any():
            changes.append(LesionChange(status="indeterminate", followup_id=f,
                                        followup_volume_mm3=follow[f].volume_mm3,
                                        centroid_mm=centre,
                                        note="outside the baseline's field of view"))
            continue
        present = float(np.mean(baseline_hu[mask] >= threshold_hu))
        fresh = (present < config.present_fraction
                 and follow[f].voxel_count >= config.min_call_voxels)
        changes.append(LesionChange(
            status="new" if fresh else "indeterminate", followup_id=f,
            followup_volume_mm3=follow[f].volume_mm3, followup_mean_hu=follow[f].mean_hu,
            centroid_mm=centre,
            note="" if fresh
            else _unpaired_note(follow[f].voxel_count, present, config, "baseline"),
        ))
    return changes


def _unpaired_note(voxels: int, present: float, config: ChangeConfig, other: str) -> str:
    if voxels < config.min_call_voxels:
        return f"{voxels} voxel(s) only: too small to call new or resolved"
    return (f"no separate {other} lesion, but {present:.0%} of its voxels reach the threshold "
            f"in the {other} scan (merged with a neighbour or below the size floor)")


def _pair(b: LesionSnapshot, f: LesionSnapshot, voxel_mm: float,
          config: ChangeConfig) -> LesionChange:
    delta = f.volume_mm3 - b.volume_mm3
    tolerance = _tolerance_mm3(b.volume_mm3, voxel_mm, config)
    status: Status = "stable"
    if delta > tolerance:
        status = "grown"
    elif delta < -tolerance:
        status = "shrunk"
    rim = f.rim_hu - b.rim_hu
    return LesionChange(
        status=status, baseline_id=b.id, followup_id=f.id,
        baseline_volume_mm3=b.volume_mm3, followup_volume_mm3=f.volume_mm3,
        volume_change_mm3=delta, volume_change_pct=100.0 * delta / b.volume_mm3,
        baseline_mean_hu=b.mean_hu, followup_mean_hu=f.mean_hu,
        mean_hu_change=f.mean_hu - b.mean_hu, rim_hu_change=rim,
        maturing=rim > config.maturing_rim_hu, centroid_mm=b.centroid_mm,
        note=f"change within +/-{tolerance:.0f} mm^3 is stable" if status == "stable" else "",
    )
