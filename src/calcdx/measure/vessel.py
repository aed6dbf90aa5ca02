"""Vessel walls without contrast: plate-like plaques that lie on one circle.

On contrast CT a plaque is found next to the enhanced lumen it is denser than
(:mod:`calcdx.lesions.detect`). On plain CT the lumen is blood (~40 HU), like
the wall around it, and a single plaque's arc bows less than a voxel (a 40
degree plaque of an 8 mm aorta bows 0.5 mm), so neither the lumen nor one
plaque shows the vessel. Several plaques of one vessel do: they lie on one
circle around a blood-density lumen. This module pools nearby plate-like
lesions, fits one circle to their voxels projected onto the slice plane and
reads the pool as the wall of a vessel running along the slice axis when the
circle is vessel-sized, the plaques lie on it, they cover an open arc that
bows, and the inside looks like a lumen. It works on the few candidate lesions
and small boxes around them only.

Rules
-----
Heuristics of this module (not published cut-offs), calibrated on the phantom's
aortic plaques and on synthetic arcs; :class:`VesselRules` holds the numbers
and ``result.json["rules"]["vessel_wall"]`` records them.

* Member: a lesion whose shape is measurable (>= 30 voxels, below which
  :mod:`calcdx.measure.shape` flags its sphericity unreliable), a thin plate
  (least principal axis <= 0.5 x the major one, i.e. flatness <= 0.5, and
  middle axis >= 1.5 x the least, so not a rod such as a rice grain or a
  coarsely sampled dot), not touching bone.
* Tube: a lesion that is not a plate but is round in the slice plane (its
  narrower in-plane extent >= 2/3 of the wider), 7-45 mm wide, and spans at
  least half its width along the slices is judged on its own: a calcified
  tube projects onto a ring, while a rim-calcified sphere (phlebolith, cyst,
  node) projects onto a filled disc and fails the residual rule.
* Pool: members whose centroids lie within 20 mm of each other in the slice
  plane and within 30 mm along the slice axis, chained (single linkage); the
  lesions need not touch.
* Fit: one circle through the slice-plane positions (mm) of the pooled voxels,
  each voxel column ``(i, j)`` once: least squares on the geometric distance
  (``scipy.optimize.least_squares``) started from the algebraic (Kasa) fit.
  While the circle fails the radius or residual rule, the member without which
  it fits best is dropped and the circle refitted, at most twice, so that a
  stray plate or two near a vessel do not hide it (candidates ranked by the
  algebraic fit without them; the best three compared by geometric fit).
* Accepted as a vessel wall when all of:

  - radius 2-20 mm (small arteries to a wide aorta; a plaque-like sheet that
    follows the body wall curves with a radius of 40 mm or more);
  - RMS residual <= 1 mm and <= 15 % of the radius: the pool is one thin wall;
  - bow (sagitta of the covered arc, ``R (1 - cos(coverage / 2))``) >= 1.5 mm,
    about two in-plane pixels: below that a straight plate fits as well and the
    radius is not determined (this replaces a bare minimum coverage; it asks
    for ~70 degrees in an 8 mm vessel, ~45 degrees in a 20 mm one);
  - coverage (360 degrees minus the largest angular gap between the pooled
    points around the centre) <= 270 degrees, or else a closed ring (a wall
    calcified all round) of radius >= 3.5 mm that spans at least its radius
    along the slices: a smaller ring is phlebolith-sized, and a ring seen on
    too few slices may be the equator of a rim-calcified sphere (cyst, node);
  - lumen: the mean HU inside the circle shrunk by 2 mm (by at most half the
    radius), over every slice of the pool, is 0-100 HU on plain CT (blood;
    fat is below -30 HU) or >= 150 HU on contrast CT (an enhanced lumen). The
    lumen is sampled only inside circles of 2-20 mm radius.

Reading
-------
A plaque-lined tube 2-20 mm in radius with a blood-density (or enhanced) lumen
is read as an artery: atherosclerotic intimal or medial calcification. A
calcified vein wall is much rarer (chronic venous thrombosis, long-standing
dialysis fistulas). Members of an accepted pool get the ``patchy_plaque``
pattern (``tram_track`` for a closed ring; moderate confidence,
:mod:`calcdx.findings.patterns`) and the location ``artery``
(:func:`calcdx.measure.context.compartment_guess`).

Limits
------
* The vessel must run roughly along the slice axis (aorta, iliac and femoral
  arteries on axial CT); a vessel crossing the slices obliquely projects onto
  an ellipse whose centre moves from slice to slice, and is not recognised.
* Plain CT cannot tell blood from muscle (both 30-60 HU): a plate-like
  calcification curving around soft tissue with a 2-20 mm radius would be read
  as a vessel wall; on contrast CT, likewise one curving around a
  contrast-filled bowel loop.
* A closed ring seen over fewer slices than its radius is not read as a vessel
  (it may be a sphere's equator), so circumferential calcification on thick
  slices of a short segment is missed.
* A pool that spans two vessels (an iliac bifurcation) fits no single circle.
* A plaque alone is recognised only when its own arc bows >= 1.5 mm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import least_squares
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from calcdx.measure.shape import MIN_VOXELS_SPHERICITY, ShapeMeasures

__all__ = [
    "CircleFit",
    "VesselRules",
    "VesselWall",
    "WallCandidate",
    "arc_coverage_deg",
    "find_vessel_walls",
    "fit_circle",
    "is_plate",
]


class VesselRules(BaseModel):
    """Thresholds of the vessel-wall rules (mm, degrees, HU); see the module docstring."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_voxels: int = Field(MIN_VOXELS_SPHERICITY, description="member: shape measurable")
    max_flatness: float = Field(0.5, description="member: least axis / major axis at most")
    min_width_ratio: float = Field(1.5, description="member: middle axis / least axis at least")
    pool_in_plane_mm: float = Field(20.0, description="pool: centroid distance in the slice plane")
    pool_along_mm: float = Field(30.0, description="pool: centroid distance along the slice axis")
    max_dropped: int = Field(2, description="pool: stray plates that may be dropped")
    min_radius_mm: float = 2.0
    max_radius_mm: float = 20.0
    max_rms_mm: float = Field(1.0, description="RMS distance of the voxels from the circle")
    max_rms_fraction: float = Field(0.15, description="... and as a fraction of the radius")
    min_bow_mm: float = Field(1.5, description="sagitta of the covered arc at least")
    max_coverage_deg: float = Field(270.0, description="above this the wall is a closed ring")
    closed_min_radius_mm: float = Field(
        3.5, description="closed ring: radius at least (phleboliths are smaller)")
    closed_min_span_factor: float = Field(
        1.0, description="closed ring: span along the slices at least this x the radius")
    lumen_margin_mm: float = Field(2.0, description="circle shrunk by this (<= half the radius)")
    plain_lumen_hu: tuple[float, float] = Field((0.0, 100.0), description="blood, plain CT")
    contrast_lumen_min_hu: float = Field(150.0, description="enhanced lumen, contrast CT")

    def summary(self) -> str:
        """The rules in one sentence (for ``result.json`` and the report)."""
        lo, hi = self.plain_lumen_hu
        return (
            f"thin plates (flatness <= {self.max_flatness:g}, >= {self.min_voxels} voxels) "
            f"pooled within {self.pool_in_plane_mm:g} mm in-plane and {self.pool_along_mm:g} mm "
            f"along the slices whose voxels lie on one circle (radius {self.min_radius_mm:g}-"
            f"{self.max_radius_mm:g} mm, RMS residual <= {self.max_rms_mm:g} mm and <= "
            f"{self.max_rms_fraction:.0%} of the radius, arc bowing >= {self.min_bow_mm:g} mm "
            f"and <= {self.max_coverage_deg:g} deg, or a closed ring of radius >= "
            f"{self.closed_min_radius_mm:g} mm spanning >= {self.closed_min_span_factor:g} x "
            f"its radius along the slices) around a lumen of {lo:g}-{hi:g} HU "
            f"(plain CT) or >= {self.contrast_lumen_min_hu:g} HU (contrast CT) are read as "
            "plaque of an artery wall (a closed ring as circumferential calcification)"
        )


class VesselWall(BaseModel):
    """The circle fitted to a pool of plate-like lesions, and whether it is a vessel wall.

    Attributes
    ----------
    pool_lesion_ids : tuple of int
        Lesions the circle was fitted to (after dropping members off the circle).
    centre_mm : tuple of 3 float
        Circle centre in world mm (RAS+), at the pool's middle slice.
    radius_mm : float
        Fitted radius (mid-wall), mm.
    rms_residual_mm : float
        RMS distance of the pooled voxel columns from the circle, mm.
    lesion_rms_mm : float
        RMS distance of this lesion's own voxel columns from the circle, mm.
    coverage_deg : float
        Arc covered by the pooled voxels around the centre, degrees.
    bow_mm : float
        Sagitta of the covered arc, mm.
    span_mm : float
        Distance along the slice axis between the first and last slice of the
        pool, mm.
    lumen_mean_hu : float or None
        Mean HU inside the shrunk circle over the pool's slices (None when the
        circle is not vessel-sized, so the lumen was not sampled).
    lumen_voxels : int
        Voxels behind ``lumen_mean_hu``.
    lumen_rule : str
        The lumen density the study's phase asks for.
    accepted : bool
        This lesion is read as plaque of a vessel wall.
    failed_rules : tuple of str
        The rules not met (empty when accepted).
    """

    model_config = ConfigDict(frozen=True)

    pool_lesion_ids: tuple[int, ...]
    centre_mm: tuple[float, float, float]
    radius_mm: float
    rms_residual_mm: float
    lesion_rms_mm: float
    coverage_deg: float
    bow_mm: float
    span_mm: float = 0.0
    lumen_mean_hu: float | None
    lumen_voxels: int
    lumen_rule: str
    accepted: bool
    failed_rules: tuple[str, ...] = ()

    @property
    def closed(self) -> bool:
        """The wall is calcified all round (coverage above the open-arc limit, 270 degrees)."""
        return self.coverage_deg > 270.0

    def evidence(self) -> str:
        """One line of the measurements behind the reading."""
        lumen = (f"lumen mean {self.lumen_mean_hu:.0f} HU ({self.lumen_rule})"
                 if self.lumen_mean_hu is not None else "lumen not sampled")
        what = ("a closed ring" if self.closed
                else f"{len(self.pool_lesion_ids)} plate-like lesion(s) on one circle")
        return (
            f"{what}: radius {self.radius_mm:.1f} mm, RMS residual "
            f"{self.rms_residual_mm:.2f} mm, arc {self.coverage_deg:.0f} deg bowing "
            f"{self.bow_mm:.1f} mm over {self.span_mm:.0f} mm along the slices, {lumen}"
        )


@dataclass(frozen=True)
class WallCandidate:
    """What the vessel-wall rules need of one lesion.

    Attributes
    ----------
    lesion_id : int
    ijk : (N, 3) ndarray of int
        Full-grid voxel indices; axis 2 is the slice axis.
    shape : ShapeMeasures
    touches_bone : bool
    """

    lesion_id: int
    ijk: NDArray[np.integer[Any]]
    shape: ShapeMeasures
    touches_bone: bool


class CircleFit(NamedTuple):
    """A least-squares circle: centre (mm), radius (mm), RMS residual (mm), residuals."""

    centre: NDArray[np.float64]
    radius: float
    rms: float
    residuals: NDArray[np.float64]


def is_plate(shape: ShapeMeasures, rules: VesselRules | None = None) -> bool:
    """Whether a lesion is a thin plate that may belong to a vessel wall.

    Parameters
    ----------
    shape : ShapeMeasures
    rules : VesselRules, optional

    Returns
    -------
    bool
        At least ``min_voxels`` voxels, least axis at most ``max_flatness`` of
        the major axis and middle axis at least ``min_width_ratio`` times the
        least.
    """
    r = rules or VesselRules()
    major, middle, least = shape.principal_axes_mm
    return (
        shape.n_voxels >= r.min_voxels
        and least <= r.max_flatness * major
        and middle >= r.min_width_ratio * least
    )


def fit_circle(xy_mm: NDArray[np.floating[Any]]) -> CircleFit:
    """Least-squares circle through 2-D points.

    Parameters
    ----------
    xy_mm : (n, 2) ndarray
        Points in mm, n >= 3.

    Returns
    -------
    CircleFit
        Minimises the sum of squared geometric distances; started from the
        algebraic (Kasa) fit. Collinear points give an infinite radius.

    Raises
    ------
    ValueError
        If fewer than 3 points are given.
    """
    xy = np.asarray(xy_mm, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) < 3:
        raise ValueError("fit_circle needs an (n, 2) array with n >= 3")
    origin = xy.mean(axis=0)
    p = xy - origin
    design = np.column_stack([2.0 * p, np.ones(len(p))])
    sol, _, rank, _ = np.linalg.lstsq(design, np.einsum("ij,ij->i", p, p), rcond=None)
    r2 = float(sol[2] + sol[:2] @ sol[:2])
    if rank < 3 or not np.isfinite(r2) or r2 <= 0.0:
        centre = np.full(2, np.inf)
        return CircleFit(centre, np.inf, np.inf, np.full(len(p), np.inf))

    def distance(v: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(np.hypot(p[:, 0] - v[0], p[:, 1] - v[1]) - v[2], dtype=np.float64)

    def jacobian(v: NDArray[np.float64]) -> NDArray[np.float64]:
        # d(|p - c| - r)/d(cx, cy, r) = (-(p - c)/|p - c|, -1); a point on the
        # centre has no defined direction and gets 0 there.
        dx, dy = p[:, 0] - v[0], p[:, 1] - v[1]
        norm = np.hypot(dx, dy)
        safe = np.where(norm > 0.0, norm, 1.0)
        return np.column_stack([-dx / safe, -dy / safe, -np.ones(len(p))])

    res = least_squares(distance, np.array([sol[0], sol[1], np.sqrt(r2)]), jac=jacobian,
                        method="lm")
    resid = distance(res.x)
    return CircleFit(res.x[:2] + origin, abs(float(res.x[2])),
                     float(np.sqrt(np.mean(resid**2))), resid)


def arc_coverage_deg(xy_mm: NDArray[np.floating[Any]], centre: NDArray[np.floating[Any]]
                     ) -> float:
    """Angle covered by points around a centre: 360 minus the largest gap, in degrees.

    Parameters
    ----------
    xy_mm : (n, 2) ndarray
    centre : (2,) ndarray

    Returns
    -------
    float
        0 for a single point, 360 minus the point spacing for a closed ring.
    """
    d = np.asarray(xy_mm, dtype=np.float64) - np.asarray(centre, dtype=np.float64)
    angles = np.sort(np.arctan2(d[:, 1], d[:, 0]))
    gaps = np.diff(np.concatenate([angles, angles[:1] + 2.0 * np.pi]))
    return float(np.degrees(2.0 * np.pi - gaps.max()))


def _pools(centroids_mm: NDArray[np.float64], rules: VesselRules) -> NDArray[np.intp]:
    """Single-linkage pools of candidate centroids (in-plane and along-axis limits)."""
    reach = float(np.hypot(rules.pool_in_plane_mm, rules.pool_along_mm))
    pairs = cKDTree(centroids_mm).query_pairs(reach, output_type="ndarray")
    d = centroids_mm[pairs[:, 0]] - centroids_mm[pairs[:, 1]]
    keep = ((np.hypot(d[:, 0], d[:, 1]) <= rules.pool_in_plane_mm)
            & (np.abs(d[:, 2]) <= rules.pool_along_mm))
    n = len(centroids_mm)
    graph = coo_matrix((np.ones(int(keep.sum())), (pairs[keep, 0], pairs[keep, 1])),
                       shape=(n, n))
    _, pools = connected_components(graph, directed=False)
    return np.asarray(pools, dtype=np.intp)


def _lumen(
    hu: NDArray[Any], spacing: tuple[float, float, float], centre: NDArray[np.float64],
    radius: float, k_range: tuple[int, int], margin_mm: float,
) -> tuple[float | None, int]:
    """Mean HU inside the shrunk circle over slices ``k_range`` (inclusive)."""
    inner = radius - min(margin_mm, radius / 2.0)
    shape = hu.shape
    lo = [max(int(np.floor((centre[a] - inner) / spacing[a])), 0) for a in (0, 1)]
    hi = [min(int(np.ceil((centre[a] + inner) / spacing[a])) + 1, shape[a]) for a in (0, 1)]
    if hi[0] <= lo[0] or hi[1] <= lo[1]:
        return None, 0
    x = np.arange(lo[0], hi[0]) * spacing[0] - centre[0]
    y = np.arange(lo[1], hi[1]) * spacing[1] - centre[1]
    disc = np.hypot(x[:, None], y[None, :]) <= inner
    if not disc.any():
        return None, 0
    crop = np.asarray(hu[lo[0]:hi[0], lo[1]:hi[1], k_range[0]:k_range[1] + 1])
    values = crop[disc]
    return float(values.mean(dtype=np.float64)), int(values.size)


def find_vessel_walls(
    candidates: Sequence[WallCandidate],
    hu: NDArray[Any],
    affine: NDArray[np.float64],
    *,
    enhanced: bool,
    rules: VesselRules | None = None,
) -> dict[int, VesselWall]:
    """Find the lesions that line a vessel wall.

    Plate-like lesions are pooled and one circle is fitted per pool; a lesion
    that is not a plate but is round in the slice plane and runs along the
    slices (a calcified tube) is judged on its own. The rules of the module
    docstring then decide.

    Parameters
    ----------
    candidates : sequence of WallCandidate
        Lesions to consider (any; bone-touching ones and lesions too small to
        measure are skipped).
    hu : (I, J, K) ndarray
        The CT in HU; only small boxes inside fitted circles are read.
    affine : (4, 4) ndarray
        Voxel-to-world affine (mm); axis 2 is the slice axis.
    enhanced : bool
        Contrast-enhanced study (the lumen must be >= 150 HU rather than blood).
    rules : VesselRules, optional

    Returns
    -------
    dict of int to VesselWall
        For every judged lesion, its pool's fit; ``accepted`` says whether it is
        read as vessel-wall plaque.
    """
    r = rules or VesselRules()
    lin = np.asarray(affine, dtype=np.float64)[:3, :3]
    norms = np.linalg.norm(lin, axis=0)
    spacing = (float(norms[0]), float(norms[1]), float(norms[2]))
    scale = np.asarray(spacing)
    usable = [c for c in candidates if not c.touches_bone and c.shape.n_voxels >= r.min_voxels]
    plates = [c for c in usable if is_plate(c.shape, r)]
    tubes = [c for c in usable if not is_plate(c.shape, r) and _tube_like(c, scale, r)]
    out: dict[int, VesselWall] = {}
    if plates:
        centroids = np.array([c.ijk.mean(axis=0) * scale for c in plates])
        pools = _pools(centroids, r)
        columns = [_columns(c, scale) for c in plates]
        for pool in np.unique(pools):
            members = [int(m) for m in np.flatnonzero(pools == pool)]
            fit, used, member_rms = _fit_pool(members, columns, r)
            out |= _judge(plates, members, used, columns, fit, member_rms, hu, affine, spacing,
                          enhanced, r)
    for tube in tubes:
        columns = [_columns(tube, scale)]
        fit = _fit([0], columns)
        out |= _judge([tube], [0], [0], columns, fit, _member_rms([0], columns, fit), hu,
                      affine, spacing, enhanced, r)
    return out


def _columns(candidate: WallCandidate, scale: NDArray[np.float64]) -> NDArray[np.float64]:
    """The lesion's voxel columns ``(i, j)``, each once, in slice-plane mm."""
    return np.unique(np.asarray(candidate.ijk)[:, :2], axis=0) * scale[:2]


def _tube_like(candidate: WallCandidate, scale: NDArray[np.float64], rules: VesselRules) -> bool:
    """Screen a lesion cheaply for a calcified tube.

    Round in the slice plane, vessel-sized, and spanning at least
    ``closed_min_span_factor`` times its half-width along the slices.
    """
    ijk = np.asarray(candidate.ijk)
    extent = (ijk.max(axis=0) - ijk.min(axis=0) + 1) * scale  # voxel edge to voxel edge
    width = float(extent[:2].max())
    round_ = float(extent[:2].min()) >= 0.67 * width
    sized = 2.0 * rules.closed_min_radius_mm <= width <= 2.0 * rules.max_radius_mm + 5.0
    return round_ and sized and float(extent[2]) >= rules.closed_min_span_factor * width / 2.0


def _judge(
    lesions: Sequence[WallCandidate],
    members: list[int],
    used: list[int],
    columns: list[NDArray[np.float64]],
    fit: CircleFit,
    member_rms: dict[int, float],
    hu: NDArray[Any],
    affine: NDArray[np.float64],
    spacing: tuple[float, float, float],
    enhanced: bool,
    r: VesselRules,
) -> dict[int, VesselWall]:
    """Apply the rules to one fitted pool; one record per member."""
    if not np.isfinite(fit.radius):
        return {}  # collinear voxel columns: no circle, nothing to read
    lo_hu, hi_hu = r.plain_lumen_hu
    lumen_rule = (f">= {r.contrast_lumen_min_hu:g} HU, enhanced lumen" if enhanced
                  else f"{lo_hu:g}-{hi_hu:g} HU, blood on plain CT")
    failed: list[str] = []
    if not r.min_radius_mm <= fit.radius <= r.max_radius_mm:
        failed.append(f"radius {fit.radius:.1f} mm outside "
                      f"{r.min_radius_mm:g}-{r.max_radius_mm:g} mm")
    limit = _rms_limit(fit.radius, r)
    if fit.rms > limit:
        failed.append(f"RMS residual {fit.rms:.2f} mm > {limit:.2f} mm")
    coverage = arc_coverage_deg(np.concatenate([columns[m] for m in used]), fit.centre)
    bow = fit.radius * (1.0 - np.cos(np.radians(coverage) / 2.0))
    ks = np.concatenate([np.asarray(lesions[m].ijk)[:, 2] for m in used])
    k_range = (int(ks.min()), int(ks.max()))
    span = (k_range[1] - k_range[0]) * spacing[2]
    if bow < r.min_bow_mm:
        failed.append(f"arc bows {bow:.1f} mm < {r.min_bow_mm:g} mm")
    if coverage > r.max_coverage_deg:
        if fit.radius < r.closed_min_radius_mm:
            failed.append(f"closed ring of radius {fit.radius:.1f} mm < "
                          f"{r.closed_min_radius_mm:g} mm (phlebolith-sized)")
        if span < r.closed_min_span_factor * fit.radius:
            failed.append(f"closed ring spanning {span:.1f} mm along the slices, less than "
                          f"{r.closed_min_span_factor:g} x its radius: a tube is not shown")
    lumen_hu: float | None = None
    n_lumen = 0
    if r.min_radius_mm <= fit.radius <= r.max_radius_mm:  # a vessel-sized, small box
        lumen_hu, n_lumen = _lumen(hu, spacing, fit.centre, fit.radius, k_range,
                                   r.lumen_margin_mm)
        if lumen_hu is None:
            failed.append("lumen not measurable")
        elif enhanced and lumen_hu < r.contrast_lumen_min_hu:
            failed.append(f"lumen {lumen_hu:.0f} HU not enhanced "
                          f"(< {r.contrast_lumen_min_hu:g} HU)")
        elif not enhanced and not lo_hu <= lumen_hu <= hi_hu:
            failed.append(f"lumen {lumen_hu:.0f} HU not blood ({lo_hu:g}-{hi_hu:g} HU)")
    mid = np.array([fit.centre[0] / spacing[0], fit.centre[1] / spacing[1],
                    0.5 * (k_range[0] + k_range[1])])
    world = np.asarray(affine, dtype=np.float64)[:3, :3] @ mid + np.asarray(
        affine, dtype=np.float64)[:3, 3]
    pool_ids = tuple(lesions[m].lesion_id for m in used)
    out: dict[int, VesselWall] = {}
    for m in members:
        own = [] if m in used else [
            f"dropped: off the pooled circle (RMS {member_rms[m]:.2f} mm)"]
        out[lesions[m].lesion_id] = VesselWall(
            pool_lesion_ids=pool_ids,
            centre_mm=(float(world[0]), float(world[1]), float(world[2])),
            radius_mm=float(fit.radius),
            rms_residual_mm=float(fit.rms),
            lesion_rms_mm=float(member_rms[m]),
            coverage_deg=float(coverage),
            bow_mm=float(bow),
            span_mm=float(span),
            lumen_mean_hu=lumen_hu,
            lumen_voxels=n_lumen,
            lumen_rule=lumen_rule,
            accepted=not failed and not own,
            failed_rules=tuple(own + failed),
        )
    return out


def _rms_limit(radius_mm: float, rules: VesselRules) -> float:
    """Largest RMS residual of a thin wall on a circle of this radius, mm."""
    return min(rules.max_rms_mm, rules.max_rms_fraction * radius_mm)


def _fit_pool(
    members: list[int], columns: list[NDArray[np.float64]], rules: VesselRules,
) -> tuple[CircleFit, list[int], dict[int, float]]:
    """Fit the pool; while its circle fails the radius or residual rule, drop a stray plate.

    Each drop removes the member without which the circle fits best (lowest RMS
    residual), at most ``rules.max_dropped`` times. Returns the final fit, the
    members it used and every member's own RMS distance from the final circle.
    """
    used = list(members)
    fit = _fit(used, columns)
    for _ in range(rules.max_dropped):
        if len(used) < 2 or _geometry_ok(fit, rules):
            break
        # Rank every candidate drop by the cheap algebraic fit, then compare the
        # geometric fits of the best few (a full geometric fit per member made this
        # the slowest step of an analysis on real anatomy).
        ranked = sorted(used, key=lambda m: _algebraic_rms([u for u in used if u != m], columns))
        trials = [(m, _fit([u for u in used if u != m], columns))
                  for m in ranked[:DROP_SHORTLIST]]
        drop, best = min(trials, key=lambda t: t[1].rms)
        if not best.rms < fit.rms:
            break
        used.remove(drop)
        fit = best
    return fit, used, _member_rms(members, columns, fit)


#: Candidate drops whose geometric circle is fitted (the best by algebraic fit).
DROP_SHORTLIST = 3


def _algebraic_rms(used: list[int], columns: list[NDArray[np.float64]]) -> float:
    """RMS distance of the pooled points from their algebraic (Kasa) circle, mm."""
    points = np.concatenate([columns[m] for m in used])
    if len(points) < 3:
        return float("inf")
    p = points - points.mean(axis=0)
    design = np.column_stack([2.0 * p, np.ones(len(p))])
    sol, _, rank, _ = np.linalg.lstsq(design, np.einsum("ij,ij->i", p, p), rcond=None)
    r2 = float(sol[2] + sol[:2] @ sol[:2])
    if rank < 3 or not np.isfinite(r2) or r2 <= 0.0:
        return float("inf")
    d = np.hypot(p[:, 0] - sol[0], p[:, 1] - sol[1]) - np.sqrt(r2)
    return float(np.sqrt(np.mean(d**2)))


def _geometry_ok(fit: CircleFit, rules: VesselRules) -> bool:
    return bool(rules.min_radius_mm <= fit.radius <= rules.max_radius_mm
                and fit.rms <= _rms_limit(fit.radius, rules))


def _fit(used: list[int], columns: list[NDArray[np.float64]]) -> CircleFit:
    points = np.concatenate([columns[m] for m in used])
    if len(points) < 3:
        return CircleFit(np.full(2, np.inf), np.inf, np.inf, np.full(len(points), np.inf))
    return fit_circle(points)


def _member_rms(members: list[int], columns: list[NDArray[np.float64]], fit: CircleFit
                ) -> dict[int, float]:
    out: dict[int, float] = {}
    for m in members:
        if not np.isfinite(fit.radius):
            out[m] = float("inf")
            continue
        d = np.hypot(columns[m][:, 0] - fit.centre[0], columns[m][:, 1] - fit.centre[1])
        out[m] = float(np.sqrt(np.mean((d - fit.radius) ** 2)))
    return out
