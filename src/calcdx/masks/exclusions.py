"""Metal (foreign material) with its streaks, and iodinated contrast.

Metal
-----
Voxels at or above ``metal_hu`` (default 2500 HU; cortical bone stays below
~2000 HU) are foreign material: they are reported as such (26-connected
objects with volume, centroid and peak) and never as calcification. Candidate
mineral within ``metal_margin_mm`` (default 2 mm, blooming) of metal, or within
``streak_radius_mm`` (default 50 mm) in the slices the metal occupies (bright
streaks radiate in-plane), is suppressed; the count is reported.

Contrast
--------
The DICOM header is strong evidence: a ContrastBolusAgent or ContrastBolusRoute
makes the study enhanced even when no lumen is in view. From the image, an
enhanced lumen or organ is a large, smooth region in the iodine range: a
candidate component of at least ``contrast_min_volume_mm3`` (2000 mm^3) with
median in 150-450 HU and robust SD (IQR / 1.349) at most 60 HU, with fewer than
20 % of its voxels much denser than its median. When one exists the study is
called enhanced, and smaller smooth components (>= 200 mm^3) whose median lies
within max(50 HU, 3 SD) of an enhanced region's median are suppressed too.
Inside a suppressed region, voxels denser than median + max(150 HU, 4 SD) are
kept as calcified plaque (wall calcification is denser than the lumen); plaque
less dense than that cannot be told from the lumen and is not reported, which
``result.json`` says. In a thin stack (a single slice, a few slices) volumes
mean little: sizes are then largest in-plane areas (``min_size`` 150 mm^2, an
aorta or a kidney cut across; ``small_min_size`` 20 mm^2), and a study enhanced
by its header suppresses every smooth region in the iodine range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cc3d
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict
from scipy.spatial import cKDTree

from calcdx.masks.contrast import ContrastPhase

__all__ = [
    "ContrastAssessment",
    "ContrastRegion",
    "MetalObject",
    "MetalResult",
    "assess_contrast",
    "find_metal",
]


class MetalObject(BaseModel):
    """One metal object (foreign material), or a stent found from its struts.

    ``matrix`` is ``"foreign_material"`` for metal at or above the metal threshold,
    ``"stent"`` for a stent's lattice (:func:`calcdx.masks.metal.find_stents`), which
    also gives its length and median ring radius (mm).
    """

    model_config = ConfigDict(frozen=True)

    volume_mm3: float
    centroid_mm: tuple[float, float, float]
    peak_hu: float
    matrix: str = "foreign_material"
    length_mm: float | None = None
    radius_mm: float | None = None


@dataclass(frozen=True)
class MetalResult:
    """Metal objects and the region around them where mineral is not trusted.

    Attributes
    ----------
    objects : list of MetalObject
    points_mm : (M, 3) ndarray of float64
        World coordinates (mm) of (a subsample of) metal voxels.
    slice_range : tuple of int
        First and last slice index (axis 2) holding metal, or (0, -1).
    margin_mm, streak_radius_mm : float
        Suppression radii.
    """

    objects: list[MetalObject]
    points_mm: NDArray[np.float64]
    slice_range: tuple[int, int]
    margin_mm: float
    streak_radius_mm: float

    def suppressed(
        self, ijk: NDArray[np.integer[Any]], affine: NDArray[np.float64]
    ) -> NDArray[np.bool_]:
        """Whether voxels lie in the metal, its blooming margin or its streaks.

        Parameters
        ----------
        ijk : (N, 3) ndarray of int
            Full-grid indices.
        affine : (4, 4) ndarray
            Voxel-to-world affine.

        Returns
        -------
        (N,) ndarray of bool
        """
        out = np.zeros(len(ijk), dtype=bool)
        if not self.objects or len(ijk) == 0:
            return out
        # Cheap pre-selection in index space (a box around the metal), then exact.
        inv = np.linalg.inv(affine)
        vox = self.points_mm @ inv[:3, :3].T + inv[:3, 3]
        reach = self.streak_radius_mm / np.linalg.norm(affine[:3, :3], axis=0) + 1
        lo = vox.min(axis=0) - reach
        hi = vox.max(axis=0) + reach
        near = np.all((ijk >= lo) & (ijk <= hi), axis=1)
        if not near.any():
            return out
        xyz = np.asarray(ijk[near], dtype=np.float64) @ affine[:3, :3].T + affine[:3, 3]
        tree = cKDTree(self.points_mm)
        dist, _ = tree.query(xyz, distance_upper_bound=self.streak_radius_mm)
        k = np.asarray(ijk)[near, 2]
        in_slices = (k >= self.slice_range[0] - 1) & (k <= self.slice_range[1] + 1)
        hit = (dist <= self.margin_mm) | ((dist <= self.streak_radius_mm) & in_slices)
        out[np.flatnonzero(near)] = hit
        return out


def find_metal(
    ijk: NDArray[np.integer[Any]],
    hu: NDArray[Any],
    affine: NDArray[np.float64],
    voxel_volume_mm3: float,
    *,
    margin_mm: float = 2.0,
    streak_radius_mm: float = 30.0,
    max_points: int = 20000,
) -> MetalResult:
    """Group metal voxels into objects.

    Parameters
    ----------
    ijk : (M, 3) ndarray of int
        Full-grid indices of voxels at or above the metal threshold.
    hu : (M,) ndarray
        Their HU.
    affine : (4, 4) ndarray
        Voxel-to-world affine (mm).
    voxel_volume_mm3 : float
        Volume of one voxel.
    margin_mm, streak_radius_mm : float
        Suppression radii in mm.
    max_points : int
        Metal voxels kept for distance queries (a regular subsample).

    Returns
    -------
    MetalResult
    """
    if len(ijk) == 0:
        return MetalResult([], np.zeros((0, 3)), (0, -1), margin_mm, streak_radius_mm)
    ijk = np.asarray(ijk, dtype=np.intp)
    lo = ijk.min(axis=0)
    shape = tuple(int(s) for s in ijk.max(axis=0) - lo + 1)
    grid = np.zeros(shape, dtype=bool)
    local = ijk - lo
    grid[local[:, 0], local[:, 1], local[:, 2]] = True
    labels = cc3d.connected_components(grid, connectivity=26)
    lab = labels[local[:, 0], local[:, 1], local[:, 2]].astype(np.intp)
    n = int(lab.max())
    counts = np.bincount(lab, minlength=n + 1)
    xyz = ijk.astype(np.float64) @ affine[:3, :3].T + affine[:3, 3]
    objects = []
    for c in range(1, n + 1):
        sel = lab == c
        centroid = xyz[sel].mean(axis=0)
        objects.append(
            MetalObject(
                volume_mm3=float(counts[c]) * voxel_volume_mm3,
                centroid_mm=(float(centroid[0]), float(centroid[1]), float(centroid[2])),
                peak_hu=float(np.max(hu[sel])),
            )
        )
    step = max(1, len(xyz) // max_points)
    return MetalResult(
        objects=objects,
        points_mm=xyz[::step],
        slice_range=(int(ijk[:, 2].min()), int(ijk[:, 2].max())),
        margin_mm=margin_mm,
        streak_radius_mm=streak_radius_mm,
    )


class ContrastRegion(BaseModel):
    """A candidate component taken for an enhancing lumen or organ."""

    model_config = ConfigDict(frozen=True)

    component: int
    volume_mm3: float
    median_hu: float
    robust_sd_hu: float
    plaque_threshold_hu: float
    primary: bool


class ContrastAssessment(BaseModel):
    """Whether the study is contrast-enhanced, and what that suppressed."""

    model_config = ConfigDict(frozen=True)

    enhanced: bool
    evidence: str
    lumen_median_hu: float | None = None
    n_regions: int = 0
    suppressed_volume_mm3: float = 0.0
    plaque_rule: str = ""
    phase: ContrastPhase | None = None


@dataclass(frozen=True)
class ComponentDensity:
    """Robust density summary of one candidate component.

    Attributes
    ----------
    component : int
    volume_mm3 : float
    median_hu, robust_sd_hu : float
    dense_fraction : float
        Fraction of voxels above median + ``plaque_delta_hu``.
    size : float
        The size the contrast rule compares: `volume_mm3`, or in a thin stack
        the largest in-plane area in mm^2.
    """

    component: int
    volume_mm3: float
    median_hu: float
    robust_sd_hu: float
    dense_fraction: float
    size: float = 0.0


def density_summary(component: int, hu: NDArray[Any], voxel_volume_mm3: float,
                    plaque_delta_hu: float = 150.0, size: float | None = None
                    ) -> ComponentDensity:
    """Summarise a component's HU values robustly.

    Parameters
    ----------
    component : int
        Component label.
    hu : (N,) ndarray
        HU of its voxels.
    voxel_volume_mm3 : float
        Volume of one voxel.
    plaque_delta_hu : float
        Offset above the median counted as dense.
    size : float, optional
        Size for the contrast rule (mm^3 or, in thin stacks, mm^2); the volume
        when omitted.

    Returns
    -------
    ComponentDensity
    """
    q25, q50, q75 = np.percentile(hu, [25, 50, 75])
    volume = float(len(hu)) * voxel_volume_mm3
    return ComponentDensity(
        component=component,
        volume_mm3=volume,
        size=volume if size is None else float(size),
        median_hu=float(q50),
        robust_sd_hu=float(q75 - q25) / 1.349,
        dense_fraction=float(np.mean(hu > q50 + plaque_delta_hu)),
    )


def assess_contrast(
    densities: list[ComponentDensity],
    *,
    min_volume_mm3: float = 2000.0,
    small_min_volume_mm3: float = 200.0,
    hu_range: tuple[float, float] = (150.0, 450.0),
    max_sd_hu: float = 60.0,
    plaque_delta_hu: float = 150.0,
    header_agent: str | None = None,
    size_unit: str = "mm^3",
    phase: ContrastPhase | None = None,
) -> tuple[ContrastAssessment, list[ContrastRegion]]:
    """Decide whether the study is enhanced and which components are lumen/organ.

    Parameters
    ----------
    densities : list of ComponentDensity
        Summaries of the (non-skeleton) candidate components of at least
        `small_min_volume_mm3`.
    min_volume_mm3, small_min_volume_mm3 : float
        Size (``ComponentDensity.size``, in `size_unit`) of a primary (aorta,
        kidney) and of a secondary enhancing region.
    hu_range : tuple of float
        Median HU range of iodine-enhanced blood and organs.
    max_sd_hu : float
        Maximum robust SD of a smooth enhanced region.
    plaque_delta_hu : float
        Minimum excess over the region's median for plaque voxels.
    header_agent : str, optional
        Contrast agent or route recorded in the DICOM header: the study is
        enhanced, and every smooth region in the iodine range is suppressed when
        no primary region sets the lumen's density.
    size_unit : str
        Unit of the sizes, for the evidence text (``"mm^3"`` or ``"mm^2"``).
    phase : ContrastPhase, optional
        The phase measured from the image (:func:`calcdx.masks.contrast.contrast_phase`).
        When given it decides whether the study is enhanced (the header is then only
        part of its evidence): a native phase suppresses nothing; an enhanced phase
        without a primary region suppresses every smooth region in the iodine range.

    Returns
    -------
    (ContrastAssessment, list of ContrastRegion)
    """
    rule = (
        f"inside an enhancing region, voxels >= median + max({plaque_delta_hu:g} HU, 4 SD) "
        "are kept as calcified plaque; less dense plaque cannot be told from the lumen"
    )

    def smooth(d: ComponentDensity) -> bool:
        return (
            hu_range[0] <= d.median_hu <= hu_range[1]
            and d.robust_sd_hu <= max_sd_hu
            and d.dense_fraction < 0.2
        )

    def region(d: ComponentDensity, primary: bool) -> ContrastRegion:
        return ContrastRegion(
            component=d.component, volume_mm3=d.volume_mm3, median_hu=d.median_hu,
            robust_sd_hu=d.robust_sd_hu,
            plaque_threshold_hu=d.median_hu + max(plaque_delta_hu, 4.0 * d.robust_sd_hu),
            primary=primary,
        )

    if phase is not None and not phase.enhanced:
        return (ContrastAssessment(enhanced=False, evidence=f"native: {phase.evidence}",
                                   plaque_rule=rule, phase=phase), [])
    primary = [d for d in densities if d.size >= min_volume_mm3 and smooth(d)]
    header = f"DICOM header: contrast agent/route {header_agent!r}" if header_agent else ""
    if phase is not None:
        header = f"{phase.phase.replace('_', ' ')}: {phase.evidence}"
    if not primary and header:
        regions = [region(d, False) for d in densities
                   if d.size >= small_min_volume_mm3 and smooth(d)]
        return (
            ContrastAssessment(
                enhanced=True,
                evidence=(
                    f"{header}; no smooth region of >= {min_volume_mm3:g} {size_unit} in the "
                    f"iodine range in view; {len(regions)} smaller smooth region(s) suppressed"
                ),
                lumen_median_hu=None,
                n_regions=len(regions),
                suppressed_volume_mm3=float(sum(r.volume_mm3 for r in regions)),
                plaque_rule=rule,
                phase=phase,
            ),
            regions,
        )
    if not primary:
        return (
            ContrastAssessment(
                enhanced=False,
                evidence=(
                    f"no smooth region of >= {min_volume_mm3:g} {size_unit} with median HU in "
                    f"{hu_range[0]:g}-{hu_range[1]:g} and robust SD <= {max_sd_hu:g} HU"
                ),
                plaque_rule=rule,
            ),
            [],
        )
    regions = [region(d, True) for d in primary]
    taken = {d.component for d in primary}
    for d in densities:
        if d.component in taken or d.size < small_min_volume_mm3 or not smooth(d):
            continue
        if any(abs(d.median_hu - p.median_hu) <= max(50.0, 3.0 * p.robust_sd_hu) for p in primary):
            regions.append(region(d, False))
    biggest = max(primary, key=lambda d: d.volume_mm3)
    evidence = (
        (f"{header}; " if header else "")
        + f"{len(primary)} smooth region(s) in the iodine range, largest {biggest.size:.0f} "
        f"{size_unit} with median {biggest.median_hu:.0f} HU "
        f"(robust SD {biggest.robust_sd_hu:.0f} HU); "
        f"{len(regions)} enhancing lumen/organ region(s) suppressed"
    )
    return (
        ContrastAssessment(
            enhanced=True,
            evidence=evidence,
            lumen_median_hu=biggest.median_hu,
            n_regions=len(regions),
            suppressed_volume_mm3=float(sum(r.volume_mm3 for r in regions)),
            plaque_rule=rule,
            phase=phase,
        ),
        regions,
    )
