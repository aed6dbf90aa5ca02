"""Calcified costal cartilage told from the image alone, without anatomy labels.

The costal cartilages are bars of hyaline cartilage that continue each of the
upper ten ribs from its anterior end forward and medially, the first seven to
the sternum, the eighth to tenth to the cartilage above (the costal margin);
together they make the anterior chest wall, and they mineralise with age
(normal ageing, :mod:`calcdx.kb` entity ``costal_cartilage_calcification``;
Ontell et al., RadioGraphics 1997;17:571-577). Calcified, such a bar is mineral
without cortex that is continuous with its rib's anterior end. The bone mask
already splits that off the rib (step 3b of :mod:`calcdx.masks.bone`: a part of a
skeleton component farther than ``cortex_reach_mm`` from any cortex-dense voxel
and bordered mostly by soft tissue); this module decides whether such a part is
costal cartilage from where it lies and how it runs.

Rule (:func:`costal_cartilage_call`, every criterion needed):

1. *on a rib end, without cortex*: at least ``min_cortexless_fraction`` of the
   lesion's voxels are step 3b's cortex-less parts of the skeleton;
2. *in the trunk*: the image-derived region of its plane is thorax or abdomen
   (:mod:`calcdx.masks.region`; the lower cartilages reach the levels of the upper
   abdomen), never a limb, the head and neck or the pelvis;
3. *in the anterior chest wall*: its centroid lies in the front part of the body's
   antero-posterior depth at its levels (``min_anterior_fraction``), where the
   ribs' anterior ends and their cartilages are; the posterior ribs, the spine and
   the scapulae lie behind the middle;
4. *a bar, not a ball*: its longest principal axis is at least ``min_bar_ratio``
   times its shortest;
5. *along the cartilage's course, not along the body's axis*: its longest axis
   makes at least ``min_course_angle_deg`` with the body's cranio-caudal axis (the
   cartilages run medially toward the sternum or obliquely up to the cartilage
   above; a vessel of the anterior chest wall, the internal thoracic artery
   beside the sternum, runs cranio-caudally).

Directions come from the volume's voxel-to-RAS+ affine (mm), so the rule holds
for any orientation of the grid.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from calcdx.masks.body import BodyMask

__all__ = ["TRUNK_REGIONS", "CostalCall", "CostalConfig", "costal_cartilage_call"]

#: Image-derived regions (calcdx.masks.region) at whose levels costal cartilage lies.
TRUNK_REGIONS: frozenset[str] = frozenset({"thorax", "abdomen"})


class CostalConfig(BaseModel):
    """Thresholds of the costal-cartilage rule; each states its basis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_cortexless_fraction: float = Field(
        0.5, gt=0, le=1,
        description="share of the lesion's voxels in the bone mask's cortex-less parts "
        "(step 3b): most of it must be the mineral split off a rib end, not a deposit "
        "found apart that merely touches it (a majority, as the findings' other calls)",
    )
    min_anterior_fraction: float = Field(
        0.5, ge=0, lt=1,
        description="the centroid's position along the body's antero-posterior depth at "
        "its levels (0 back, 1 front) at least this: the front half, the loosest split "
        "that leaves out the posterior ribs, the spine and the scapulae (heuristic from "
        "anatomy: the costochondral junctions and cartilages form the anterior wall)",
    )
    min_bar_ratio: float = Field(
        2.0, gt=1,
        description="longest over shortest principal axis (SD of the voxel positions) at "
        "least this: a costal cartilage is a bar several times longer than it is thick "
        "(heuristic from anatomy, qualitative); a compact deposit is rounder",
    )
    min_course_angle_deg: float = Field(
        30.0, ge=0, lt=90,
        description="angle (degrees) of the longest axis from the cranio-caudal axis at "
        "least this: the cartilages run medially or obliquely upward to the sternum or the "
        "cartilage above, not along the body's axis as the internal thoracic vessels "
        "beside the sternum do (heuristic; 30 degrees leaves the steep lower cartilages in)",
    )


class CostalCall(BaseModel):
    """The measures behind one lesion's costal-cartilage call (units in the names)."""

    model_config = ConfigDict(frozen=True)

    accepted: bool
    cortexless_fraction: float
    region: str | None
    anterior_fraction: float | None
    bar_ratio: float
    course_angle_deg: float
    side: str | None = None
    failed: tuple[str, ...]

    def evidence(self) -> str:
        """One line quoting the measures (for the findings' derivation)."""
        ant = "-" if self.anterior_fraction is None else f"{self.anterior_fraction:.2f}"
        return (
            f"cortex-less mineral continuous with the skeleton ({self.cortexless_fraction:.0%} "
            f"of its voxels, bone mask step 3b) in the anterior chest wall (at {ant} of the "
            f"body's antero-posterior depth, {self.region} levels), a bar (axes ratio "
            f"{self.bar_ratio:.1f}) running {self.course_angle_deg:.0f} degrees off the body's "
            "long axis: calcified costal cartilage on its rib end"
        )


def _world(affine: NDArray[np.float64], ijk: NDArray[Any]) -> NDArray[np.float64]:
    a = np.asarray(affine, dtype=np.float64)
    return np.asarray(ijk, dtype=np.float64) @ a[:3, :3].T + a[:3, 3]


def _anterior_fraction(world: NDArray[np.float64], body: BodyMask,
                       affine: NDArray[np.float64]) -> tuple[float | None, str | None]:
    """Position of the centroid along the body's antero-posterior depth at its levels.

    The body's coarse cells whose superior coordinate lies within the lesion's
    superior range (widened by one coarse cell) give the depth (RAS+ y, anterior
    positive) and the midline (their median RAS+ x); None when no body cell lies at
    those levels. Also the side of the midline the centroid lies on (``left`` or
    ``right``, the patient's).
    """
    cells = np.argwhere(body.coarse)
    if cells.size == 0:
        return None, None
    f = np.asarray(body.grid.factors)
    bw = _world(affine, cells * f + f // 2)
    half = 0.5 * float(max(body.grid.spacing_mm))
    s_lo, s_hi = float(world[:, 2].min()) - half, float(world[:, 2].max()) + half
    band = (bw[:, 2] >= s_lo) & (bw[:, 2] <= s_hi)
    if not band.any():
        return None, None
    side = "left" if float(world[:, 0].mean()) >= float(np.median(bw[band, 0])) else "right"
    back, front = float(bw[band, 1].min()), float(bw[band, 1].max())
    if front <= back:
        return None, side
    return (float(world[:, 1].mean()) - back) / (front - back), side


def costal_cartilage_call(
    ijk: NDArray[np.integer[Any]],
    affine: NDArray[np.float64],
    *,
    cortexless: NDArray[np.bool_],
    region: str | None,
    body: BodyMask,
    config: CostalConfig | None = None,
) -> CostalCall:
    """Whether one lesion is calcified costal cartilage on its rib end (module rule).

    Parameters
    ----------
    ijk : (N, 3) ndarray of int
        The lesion's voxels (full-grid indices).
    affine : (4, 4) ndarray
        Voxel-to-RAS+ affine (mm).
    cortexless : (N,) ndarray of bool
        Per voxel, whether the bone mask found it cortex-less on bone
        (:meth:`calcdx.masks.bone.BoneResult.in_cartilage`).
    region : str or None
        Image-derived region of the lesion's plane (:mod:`calcdx.masks.region`).
    body : BodyMask
        The body on its coarse grid (:func:`calcdx.masks.body.body_mask`).
    config : CostalConfig, optional

    Returns
    -------
    CostalCall
        ``accepted`` when every criterion holds; ``failed`` names those that do not.
    """
    cfg = config or CostalConfig()
    pts = np.asarray(ijk)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
        raise ValueError(f"ijk must be a non-empty (N, 3) array, got shape {pts.shape}")
    if np.asarray(cortexless).shape != (len(pts),):
        raise ValueError(f"cortexless must have one flag per voxel ({len(pts)}), got "
                         f"shape {np.asarray(cortexless).shape}")
    world = _world(affine, pts)
    fraction = float(np.mean(cortexless))
    anterior, side = _anterior_fraction(world, body, affine)
    # principal axes of the voxel centres, each voxel's own extent added (as measure_shape)
    extent_mm = np.abs(np.asarray(affine, dtype=np.float64)[:3, :3]) @ np.ones(3)
    cov = np.cov(world.T, bias=True) if len(world) > 1 else np.zeros((3, 3))
    cov = cov + np.diag(np.square(extent_mm)) / 12.0
    evals, evecs = np.linalg.eigh(cov)
    evals = np.clip(evals, 1e-12, None)
    bar = float(np.sqrt(evals[-1] / evals[0]))
    major = evecs[:, -1]
    angle = float(np.degrees(np.arccos(min(1.0, abs(float(major[2]))))))
    failed = []
    if fraction < cfg.min_cortexless_fraction:
        failed.append("not cortex-less on bone")
    if region not in TRUNK_REGIONS:
        failed.append("not at trunk levels")
    if anterior is None or anterior < cfg.min_anterior_fraction:
        failed.append("not in the anterior chest wall")
    if bar < cfg.min_bar_ratio:
        failed.append("not a bar")
    if angle < cfg.min_course_angle_deg:
        failed.append("runs along the body's long axis")
    return CostalCall(
        accepted=not failed, cortexless_fraction=fraction, region=region,
        anterior_fraction=anterior, bar_ratio=bar, course_angle_deg=angle, side=side,
        failed=tuple(failed),
    )
