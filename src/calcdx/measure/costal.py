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

Calcification in cartilage is patchy, so a calcified cartilage also shows as
segments standing apart from its rib, with gaps between them.
:func:`free_segment_call` reads such a segment from where the costal cartilages
are (Ontell et al. 1997; Gray's Anatomy, "The costal cartilages": the anterior
surface is covered by the pectoralis major or the flat muscles of the abdomen, the
posterior surface gives attachment to the transversus thoracis, the transversus
abdominis and the diaphragm, so a cartilage lies in the rib cage's own layer of the
wall, deep to the muscles and superficial to the liver and spleen). Every
criterion needed:

1. *in the trunk* and 2. *in the anterior chest wall*, as above;
3. *near the rib cage's front*: the nearest bone (surface voxel) lies within
   ``max_rib_gap_mm`` and is itself in the front part of the body at those
   levels (a rib end, the sternum; not the spine);
4. *at the rib cage's depth*: the segment's depth below the skin lies within the
   depth range of that bone's surface near its nearest point (its outer to inner
   surface), widened by the skin distance's own resolution. The cartilages
   continue the ribs along the curved wall, parallel to the skin, so their depth
   below it is the rib ends' (Gray's: between the abdominal muscles and the
   diaphragm); subcutaneous deposits lie shallower and the liver, spleen and
   kidneys, with their granulomas and stones, deeper.

The anterior wall thickens toward the midline, so a segment far along a cartilage
from its rib may lie deeper than that rib. :func:`link_segments` then reads it
from the other segments of the same cartilage: a segment meeting criteria 1-3
whose depth alone fails is accepted when it lies within ``max_rib_gap_mm`` (one
cartilage's length) of an accepted segment and at that segment's depth (within
the same margin), step by step along the chain.

Directions come from the volume's voxel-to-RAS+ affine (mm), so the rule holds
for any orientation of the grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy.spatial import cKDTree

from calcdx.masks.body import BodyMask

__all__ = [
    "TRUNK_REGIONS",
    "ChestWall",
    "CostalCall",
    "CostalConfig",
    "costal_cartilage_call",
    "free_segment_call",
    "link_segments",
]

#: Image-derived regions (calcdx.masks.region) at whose levels costal cartilage lies.
TRUNK_REGIONS: frozenset[str] = frozenset({"thorax", "abdomen"})


class CostalConfig(BaseModel):
    """Thresholds of the costal-cartilage rules; each states its basis."""

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
    max_rib_gap_mm: float = Field(
        100.0, gt=0,
        description="free segments: the nearest bone at most this far (mm). A segment lies "
        "on a cartilage, which bridges from its rib end to the sternum or the cartilage "
        "above; the cartilages lengthen from the first to the seventh (Gray's Anatomy, "
        "qualitative), the longest spanning much of the anterior wall's half-breadth. "
        "Heuristic bound (a hand's breadth), not a published length",
    )
    rib_patch_mm: float = Field(
        15.0, gt=0,
        description="free segments: the nearest bone's depth range is read over its "
        "surface within this radius (mm) of its point nearest the segment: about a rib "
        "end's breadth, so the patch spans the rib from its outer to its inner surface "
        "and no farther along the wall (heuristic from anatomy, qualitative)",
    )
    max_wall_depth_fraction: float = Field(
        0.5, gt=0, lt=1,
        description="free segments: the nearest bone's depth below the skin at most this "
        "share of the body's deepest point at its levels (the depth of the trunk's core): "
        "the ribs and their cartilages form the trunk's outer shell, the chest wall being "
        "thin beside the trunk's half-width, while the spine, the aorta and the viscera lie "
        "in its inner half (heuristic from anatomy, the loosest split; not fitted)",
    )
    max_hug_fraction: float = Field(
        0.5, gt=0, le=1,
        description="free segments: at most this share of the lesion's voxels within one "
        "voxel (the largest spacing) of the bone surface. Mineral hugging a bone is its "
        "partial-volume fringe or a deposit on it, not a cartilage running on beyond a rib "
        "end (a majority, as the other calls; one voxel: the reach of partial volume)",
    )
    depth_margin_cells: float = Field(
        1.0, ge=0,
        description="free segments: the rib depth range is widened by this many cells of "
        "the coarse grid the skin distance lives on (its own resolution, "
        "calcdx.masks.body), no more: deeper is inside the rib cage (liver, spleen)",
    )


class CostalCall(BaseModel):
    """The measures behind one lesion's costal-cartilage call (units in the names).

    ``kind`` is ``rib_end`` for mineral split off a rib end (:func:`costal_cartilage_call`)
    and ``free`` for a segment standing apart (:func:`free_segment_call`).
    """

    model_config = ConfigDict(frozen=True)

    accepted: bool
    cortexless_fraction: float
    region: str | None
    anterior_fraction: float | None
    bar_ratio: float
    course_angle_deg: float
    side: str | None = None
    failed: tuple[str, ...]
    kind: str = "rib_end"
    rib_gap_mm: float | None = None
    depth_mm: float | None = None
    rib_depth_mm: tuple[float, float] | None = None
    depth_margin_mm: float | None = None
    linked_to: int | None = None
    link_mm: float | None = None

    def evidence(self) -> str:
        """One line quoting the measures (for the findings' derivation)."""
        ant = "-" if self.anterior_fraction is None else f"{self.anterior_fraction:.2f}"
        if self.kind == "free" and self.linked_to is not None:
            return (
                f"a segment in the anterior chest wall (at {ant} of the body's "
                f"antero-posterior depth, {self.region} levels) {self.depth_mm or 0:.0f} mm "
                f"below the skin, {self.link_mm or 0:.0f} mm from calcified costal-cartilage "
                f"segment {self.linked_to} at its depth: another segment of the same cartilage"
            )
        if self.kind == "free":
            lo, hi = self.rib_depth_mm or (float("nan"), float("nan"))
            return (
                f"a segment in the anterior chest wall (at {ant} of the body's "
                f"antero-posterior depth, {self.region} levels) {self.depth_mm or 0:.0f} mm "
                f"below the skin, at the depth of the rib cage's front there (the nearest "
                f"bone, {self.rib_gap_mm or 0:.0f} mm away, lies {lo:.0f}-{hi:.0f} mm deep, "
                f"+/- {self.depth_margin_mm or 0:.0f} mm, the skin distance's resolution): "
                "calcified costal cartilage standing apart from its rib"
            )
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


@dataclass(frozen=True)
class ChestWall:
    """The body's depth per level and the bone surface, built once per study.

    Attributes
    ----------
    body : BodyMask
    affine : (4, 4) ndarray
        Voxel-to-RAS+ affine (mm) of the full grid.
    spacing_mm : tuple of float
        Full-grid voxel spacing (mm).
    cells_world : (M, 3) ndarray
        RAS+ centres (mm) of the body's coarse cells, sorted by the superior coordinate.
    cells_skin_mm : (M,) ndarray of float32
        Their skin distances (mm), same order.
    bone_tree : cKDTree or None
        Bone surface voxel centres in full-grid index x spacing (mm)
        (:meth:`calcdx.masks.bone.BoneResult.surface_tree`); None without a skeleton.
    bone_cells : (K, 3) ndarray of int
        The body's coarse cells holding bone surface (where the skin distance is read).
    bone_cell_tree : cKDTree or None
        Their centres in full-grid index x spacing (mm), as `bone_tree`.
    """

    body: BodyMask
    affine: NDArray[np.float64]
    spacing_mm: tuple[float, float, float]
    cells_world: NDArray[np.float64]
    cells_skin_mm: NDArray[np.float32]
    bone_tree: cKDTree | None = None
    bone_cells: NDArray[np.intp] | None = None
    bone_cell_tree: cKDTree | None = None

    @classmethod
    def build(cls, body: BodyMask, affine: NDArray[np.float64],
              spacing_mm: tuple[float, float, float],
              bone_tree: cKDTree | None = None) -> ChestWall:
        """The frame of one study (the body's coarse cells placed in RAS+ once)."""
        cells = np.argwhere(body.coarse)
        f = np.asarray(body.grid.factors)
        world = _world(affine, cells * f + f // 2) if cells.size else np.zeros((0, 3))
        order = np.argsort(world[:, 2], kind="stable")
        world = world[order]
        skin = np.asarray(body.skin_distance_mm[tuple(cells.T)], dtype=np.float32)[order]
        if bone_tree is not None and bone_tree.n == 0:
            bone_tree = None
        bone_cells = bone_cell_tree = None
        if bone_tree is not None:
            # the bone surface on the coarse grid, once: a fine grid's surface is dense
            # (thin slices), the skin distance lives on the coarse cells anyway
            ijk = np.rint(np.asarray(bone_tree.data) / np.asarray(spacing_mm)).astype(np.intp)
            coarse = np.minimum(ijk // f, np.asarray(body.grid.shape) - 1)
            flat = np.unique(np.ravel_multi_index(tuple(coarse.T), body.grid.shape))
            bone_cells = np.column_stack(np.unravel_index(flat, body.grid.shape))
            bone_cell_tree = cKDTree((bone_cells * f + f // 2) * np.asarray(spacing_mm))
        return cls(body=body, affine=np.asarray(affine, dtype=np.float64),
                   spacing_mm=spacing_mm, cells_world=world, cells_skin_mm=skin,
                   bone_tree=bone_tree,
                   bone_cells=bone_cells, bone_cell_tree=bone_cell_tree)

    def band(self, world: NDArray[np.float64]) -> tuple[float, float, float] | None:
        """Back, front (RAS+ y, mm) and midline (RAS+ x) of the body at the levels of `world`.

        The body's coarse cells whose superior coordinate lies within the points'
        superior range, widened by half a coarse cell; None when none lies there.
        """
        levels = self._levels(world)
        if levels is None:
            return None
        cells = self.cells_world[levels]
        return float(cells[:, 1].min()), float(cells[:, 1].max()), float(np.median(cells[:, 0]))

    def core_depth(self, world: NDArray[np.float64]) -> float | None:
        """The body's deepest skin distance (mm) at the levels of `world`; None if no body."""
        levels = self._levels(world)
        return None if levels is None else float(self.cells_skin_mm[levels].max())

    def _levels(self, world: NDArray[np.float64]) -> slice | None:
        """The body cells at the superior range of `world`, widened by half a coarse cell."""
        half = 0.5 * float(max(self.body.grid.spacing_mm))
        s = self.cells_world[:, 2]
        a = int(np.searchsorted(s, float(world[:, 2].min()) - half, side="left"))
        b = int(np.searchsorted(s, float(world[:, 2].max()) + half, side="right"))
        return slice(a, b) if b > a else None


def _anterior_fraction(world: NDArray[np.float64], wall: ChestWall
                       ) -> tuple[float | None, str | None]:
    """Position of the centroid along the body's antero-posterior depth at its levels.

    The depth is the body's (RAS+ y, anterior positive) at the lesion's levels
    (:meth:`ChestWall.band`); None when no body cell lies at those levels. Also the
    side of the midline (the cells' median RAS+ x) the centroid lies on (``left`` or
    ``right``, the patient's).
    """
    band = wall.band(world)
    if band is None:
        return None, None
    back, front, mid = band
    side = "left" if float(world[:, 0].mean()) >= mid else "right"
    if front <= back:
        return None, side
    return (float(world[:, 1].mean()) - back) / (front - back), side


def _principal(world: NDArray[np.float64], affine: NDArray[np.float64]) -> tuple[float, float]:
    """Axes ratio and angle (degrees) of the longest axis from the body's long axis."""
    # principal axes of the voxel centres, each voxel's own extent added (as measure_shape)
    extent_mm = np.abs(np.asarray(affine, dtype=np.float64)[:3, :3]) @ np.ones(3)
    cov = np.cov(world.T, bias=True) if len(world) > 1 else np.zeros((3, 3))
    cov = cov + np.diag(np.square(extent_mm)) / 12.0
    evals, evecs = np.linalg.eigh(cov)
    evals = np.clip(evals, 1e-12, None)
    major = evecs[:, -1]
    return (float(np.sqrt(evals[-1] / evals[0])),
            float(np.degrees(np.arccos(min(1.0, abs(float(major[2])))))))


def _points(ijk: NDArray[Any]) -> NDArray[np.intp]:
    pts = np.asarray(ijk)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
        raise ValueError(f"ijk must be a non-empty (N, 3) array, got shape {pts.shape}")
    return pts.astype(np.intp, copy=False)


def free_segment_call(
    ijk: NDArray[np.integer[Any]],
    *,
    region: str | None,
    wall: ChestWall,
    config: CostalConfig | None = None,
) -> CostalCall:
    """Whether one lesion standing apart from bone is a calcified costal-cartilage segment.

    The module's free-segment rule: trunk levels, the anterior chest wall, the
    nearest bone within ``max_rib_gap_mm`` and in the front of the body, and the
    segment's depth below the skin within that bone's surface depth range near it.
    Distances are read between the cells of the coarse grid the skin distance lives
    on (:mod:`calcdx.masks.body`, about 4 mm): the lesion's cells, and the cells
    holding bone surface (:attr:`ChestWall.bone_cells`); work is on those few cells.

    Parameters
    ----------
    ijk : (N, 3) ndarray of int
        The lesion's voxels (full-grid indices).
    region : str or None
        Image-derived region of the lesion's plane (:mod:`calcdx.masks.region`).
    wall : ChestWall
        The study's frame (:meth:`ChestWall.build`), with its bone surface.
    config : CostalConfig, optional

    Returns
    -------
    CostalCall
        ``kind="free"``; ``accepted`` when every criterion holds, ``failed`` names those
        that do not.
    """
    cfg = config or CostalConfig()
    pts = _points(ijk)
    world = _world(wall.affine, pts)
    anterior, side = _anterior_fraction(world, wall)
    bar, angle = _principal(world, wall.affine)
    failed: list[str] = []
    if region not in TRUNK_REGIONS:
        failed.append("not at trunk levels")
    if anterior is None or anterior < cfg.min_anterior_fraction:
        failed.append("not in the anterior chest wall")
    gap: float | None = None
    depth = float(np.median(wall.body.skin_distance_at(pts)))
    rib_depth: tuple[float, float] | None = None
    margin = cfg.depth_margin_cells * float(max(wall.body.grid.spacing_mm))
    if failed:
        pass
    elif wall.bone_tree is None:
        failed.append("no rib cage found")
    else:
        spacing = np.asarray(wall.spacing_mm)
        assert wall.bone_cells is not None and wall.bone_cell_tree is not None
        # on the coarse grid the skin distance lives on: the lesion's cells to the bone's
        # (a fine grid of thin slices holds far more points, to no gain at this scale)
        f = np.asarray(wall.body.grid.factors)
        cells = np.unique(wall.body.grid.to_coarse(pts), axis=0)
        dist, idx = wall.bone_cell_tree.query((cells * f + f // 2) * spacing, k=1,
                                              distance_upper_bound=cfg.max_rib_gap_mm)
        best = int(np.argmin(dist))
        n_cells = len(wall.bone_cells)
        near = np.asarray(wall.bone_cell_tree.data[min(int(idx[best]), n_cells - 1)])
        near_ant, _ = _anterior_fraction(_world(wall.affine, (near / spacing)[None, :]), wall)
        if not np.isfinite(dist[best]):
            failed.append("too far from the rib cage")
        elif near_ant is None or near_ant < cfg.min_anterior_fraction:
            gap = float(dist[best])
            failed.append("nearest bone not in the anterior chest wall")
        else:
            gap = float(dist[best])
            # the bone's cells within the patch radius of its cell nearest the lesion
            patch = wall.bone_cells[wall.bone_cell_tree.query_ball_point(
                near, r=cfg.rib_patch_mm)]
            skin = wall.body.skin_distance_mm[patch[:, 0], patch[:, 1], patch[:, 2]]
            rib_depth = (float(skin.min()), float(skin.max()))
            core = wall.core_depth(world)
            hug = 0.0
            if gap <= float(np.linalg.norm(wall.body.grid.spacing_mm)):
                # near enough to touch: the share of its voxels on the bone surface's rim
                voxel = float(max(wall.spacing_mm))
                near_d, _ = wall.bone_tree.query(pts * spacing, k=1,
                                                 distance_upper_bound=1.0001 * voxel)
                hug = float(np.mean(np.isfinite(near_d)))
            if core is None or rib_depth[0] > cfg.max_wall_depth_fraction * core:
                failed.append("nearest bone not in the trunk's outer shell")
            elif hug > cfg.max_hug_fraction:
                failed.append("hugs the bone (its fringe or a deposit on it)")
            elif depth > rib_depth[1] + margin:
                failed.append("deeper than the rib cage (inside it)")
            elif depth < rib_depth[0] - margin:
                failed.append("shallower than the rib cage (subcutaneous)")
    return CostalCall(
        accepted=not failed, cortexless_fraction=0.0, region=region,
        anterior_fraction=anterior, bar_ratio=bar, course_angle_deg=angle, side=side,
        failed=tuple(failed), kind="free", rib_gap_mm=gap, depth_mm=depth,
        rib_depth_mm=rib_depth, depth_margin_mm=margin,
    )


def costal_cartilage_call(
    ijk: NDArray[np.integer[Any]],
    affine: NDArray[np.float64],
    *,
    cortexless: NDArray[np.bool_],
    region: str | None,
    body: BodyMask,
    config: CostalConfig | None = None,
    wall: ChestWall | None = None,
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
    wall : ChestWall, optional
        The study's frame, when built already (else built from `body` and `affine`).

    Returns
    -------
    CostalCall
        ``accepted`` when every criterion holds; ``failed`` names those that do not.
    """
    cfg = config or CostalConfig()
    pts = _points(ijk)
    if np.asarray(cortexless).shape != (len(pts),):
        raise ValueError(f"cortexless must have one flag per voxel ({len(pts)}), got "
                         f"shape {np.asarray(cortexless).shape}")
    frame = wall or ChestWall.build(body, affine, (1.0, 1.0, 1.0))
    world = _world(affine, pts)
    fraction = float(np.mean(cortexless))
    anterior, side = _anterior_fraction(world, frame)
    bar, angle = _principal(world, affine)
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
        failed=tuple(failed), depth_mm=float(np.median(frame.body.skin_distance_at(pts))),
    )


#: The free-segment rule's depth failures, the only ones :func:`link_segments` may lift.
DEPTH_FAILURES: frozenset[str] = frozenset({
    "deeper than the rib cage (inside it)", "shallower than the rib cage (subcutaneous)"})


def link_segments(
    calls: list[CostalCall | None],
    centroids_mm: NDArray[np.float64],
    ids: list[int],
    *,
    margin_mm: float,
    config: CostalConfig | None = None,
) -> list[CostalCall | None]:
    """Accept segments of a cartilage already read, along the chain (module rule).

    Parameters
    ----------
    calls : list of CostalCall or None
        Each lesion's call (None: no call).
    centroids_mm : (N, 3) ndarray
        The lesions' centroids (mm, any orthonormal frame).
    ids : list of int
        The lesions' ids (named in the linked calls' evidence).
    margin_mm : float
        Depth tolerance (mm): ``depth_margin_cells`` coarse cells of the skin distance.
    config : CostalConfig, optional

    Returns
    -------
    list of CostalCall or None
        The calls, those linked to an accepted segment replaced by accepted ones
        (``linked_to``, ``link_mm``).
    """
    cfg = config or CostalConfig()
    out = list(calls)
    if len(out) != len(centroids_mm) or len(out) != len(ids):
        raise ValueError(f"calls ({len(out)}), centroids_mm ({len(centroids_mm)}) and ids "
                         f"({len(ids)}) must have one entry per lesion")

    def accepted_depth(i: int) -> float | None:
        call = out[i]
        return call.depth_mm if call is not None and call.accepted else None

    pending = [i for i, c in enumerate(out) if c is not None and not c.accepted
               and c.kind == "free" and c.failed and set(c.failed) <= DEPTH_FAILURES
               and c.depth_mm is not None]
    frontier = [i for i in range(len(out)) if accepted_depth(i) is not None]
    if not pending or not frontier:
        return out
    pts = np.asarray(centroids_mm, dtype=np.float64)
    while frontier and pending:
        nxt: list[int] = []
        for j in list(pending):
            cand = out[j]
            assert cand is not None and cand.depth_mm is not None
            gaps = np.linalg.norm(pts[frontier] - pts[j], axis=1)
            for k in np.argsort(gaps):
                i = frontier[int(k)]
                d_i = accepted_depth(i)
                if gaps[k] > cfg.max_rib_gap_mm:
                    break
                if d_i is not None and abs(cand.depth_mm - d_i) <= margin_mm:
                    out[j] = cand.model_copy(update={
                        "accepted": True, "failed": (), "linked_to": ids[i],
                        "link_mm": float(gaps[k])})
                    pending.remove(j)
                    nxt.append(j)
                    break
        frontier = nxt
    return out
