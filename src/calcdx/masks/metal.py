"""Metal artefacts and thin metal: the streaks of an implant, and stents.

Metal itself (HU >= ``metal_hu``) is found by :func:`calcdx.masks.exclusions.find_metal`.
This module tells which mineral (HU >= 130) in the metal's slices is not
tissue at all but a *bright streak*, so that it is neither skeleton nor lesion.

What a streak is
----------------
Beam hardening, photon starvation and scatter at a dense implant give
alternating bright and dark bands that radiate from the metal along lines in the
slice plane, fading with distance, in the slices the metal occupies (Barrett and
Keat, RadioGraphics 2004;24:1679-1691; Boas and Fleischmann, Imaging Med
2012;4:229-240). On a circle around the metal a streak is therefore a *narrow*
bright band standing on soft tissue, with a dark band beside it that falls
below that tissue about as far as the bright one rises. Bone is neither: a
bone crossing the circle is wider than a streak, or it is bone on both sides,
and the tissue beside a cortex is not darker than the soft tissue by half the
cortex's excess (unless it is gas, which is not counted as a dark band).

Rule (:func:`metal_streaks`), in each slice holding metal (and the one on
either side), around each metal cross-section (2-D 8-connected blob, its
centroid the centre), out to ``radius_mm``:

* the *tissue level* at a point is the median HU over an arc of
  ``2 window_mm`` on its circle around the metal (at most a quarter turn);
* a mineral voxel (HU >= ``mineral_hu``) is a bright streak when it lies in a
  narrow bright band (its run at or above ``mineral_hu`` along the circle at most
  ``max_width_mm``), that tissue level is under ``mineral_hu`` (it stands on soft
  tissue, not inside bone or cement), and the arc holds a dark band: its
  ``dark_quantile`` quantile lies under the tissue level by at least
  ``max(min_dark_hu, dark_ratio * excess)``, the excess being the voxel's HU over
  the tissue level; HU under ``air_hu`` (gas, lung) is no dark band.

Stated limits: where photon starvation makes the dark bands read as gas (under
``air_hu``, beside the densest implants, e.g. between bilateral hip stems) the
bright bands there are not found and join the bone as before; a bright band
wider than ``max_width_mm`` or standing on bone is not found; the partial-volume
edge of a thin bone beside fat (a few hundred HU over it) can be taken for a
streak, in the zone that is not assessed anyway.

Streak voxels are taken out of the mineral before the skeleton is built (they
would join a bone's component and be sealed and filled with it) and are never
lesions (they lie in the metal's streak zone, which is not assessed anyway).

Stents
------
Thin struts (nitinol, thin stainless steel: 0.1-0.3 mm wire) read under the
metal threshold at clinical kernels, often 1000-2000 HU blurred by partial
volume, and would be reported as rows of small lesions along a vessel. A stent
is a thin tubular lattice: in every slice it crosses, its struts are small dense
dots lying on one circle (the vessel's wall) and spread round all of it, over
many consecutive slices, all of one density (one wire). Wall calcification lies
on the wall too but is patchy: it covers part of the circumference, over a few
slices, with the uneven density of mineral. Rule (:func:`find_stents`), on the
candidate lesions of the detection:

* *dense* candidates peak at ``strut_min_hu`` or more; they are grouped by
  proximity (cells of ``link_mm``, 26-connected);
* in a group, a slice is a *ring* when the group's dense voxels there
  (``strut_min_hu`` or more) fit one circle (least squares) of radius
  ``radius_mm``, with 90 % of them within ``max_offset_mm`` of it, no
  angular gap between them over ``max_gap_deg``, and at most ``max_cover`` of the
  circle held (an open lattice, not a tube);
* the group is a stent when its ring slices span at least ``min_length_mm``,
  are at least ``min_ring_fraction`` of the slices it spans, and its dots
  (per-slice 2-D parts of its dense voxels) are of one density: their peaks'
  IQR at most ``max_peak_spread`` of their median;
* the stent's struts (its candidates' voxels at or above half the dots' median
  peak, their full width at half maximum, in per-slice 2-D parts whose voxels lie, by
  median, within ``max_offset_mm`` of the circle of the nearest ring slice: the wire)
  and every candidate voxel within ``margin_mm`` of them (blooming) are not lesions;
  what remains of a candidate (wall calcification beyond or beside the struts, however
  dense: a plaque is a patch reaching off the wire's circle) is still reported.

Stated limit: a plaque as dense as the struts' half maximum that touches a strut in a
slice is one dot with it, and is taken with the strut when most of that dot lies on the
wire's circle.
"""

from __future__ import annotations

from typing import Any

import cc3d
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from calcdx.masks.exclusions import MetalObject

__all__ = ["StentConfig", "StreakConfig", "find_stents", "implant_cavities", "metal_streaks",
           "near_struts"]


class StreakConfig(BaseModel):
    """Sizes and levels of :func:`metal_streaks` (HU, mm), each with its basis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mineral_hu: float = Field(
        130.0,
        description="mineral threshold, inclusive (the Agatston calcium threshold, as in "
        "calcdx.masks.bone): only mineral can be taken for a streak",
    )
    window_mm: float = Field(
        10.0, gt=0,
        description="half-length (mm of arc) of the arc on a circle round the metal over "
        "which the tissue level is the median and the dark band is sought. Heuristic from "
        "what streaks are: bright streaks are narrow (a few mm across) and come with dark "
        "bands beside them, so an arc of 20 mm holds mostly tissue and at least part of a "
        "dark band; bones crossing the circle near an implant (femoral and tibial cortex "
        "round a stem, the acetabulum, the trochanters) are wider or enclose it",
    )
    max_width_mm: float = Field(
        8.0, gt=0,
        description="widest bright band (mm of arc, its run at or above mineral_hu along the "
        "circle) taken for a streak. Heuristic from what streaks are: thin lines a few mm "
        "across; a bone crossing the circle beside an implant (a ramus, a trochanter, the "
        "tibial plateau) is mostly 10 mm or more across",
    )
    dark_ratio: float = Field(
        0.3, gt=0,
        description="the dark band lies under the tissue level by at least this fraction "
        "of the bright voxel's excess over it. Heuristic from what streaks are: bright and "
        "dark bands of one artefact are of like amplitude; a cortex (600-1500 HU over soft "
        "tissue) would need a dark band 300-750 HU deep, found only in gas, which is not "
        "counted",
    )
    min_dark_hu: float = Field(
        50.0, gt=0,
        description="least depth (HU) of a dark band under the tissue level. Heuristic: "
        "about twice the noise SD of routine and low-dose CT (10-30 HU); the band is read "
        "at a quantile of the arc, not at its darkest voxel, so noise alone does not make one",
    )
    dark_quantile: float = Field(
        0.2, gt=0, lt=0.5,
        description="quantile of the arc's HU read as its dark band: the band must cover at "
        "least this fraction of the arc. Heuristic: a dark streak is a band as wide as a "
        "bright one; a lone dark voxel (noise, a speck of fat) is not one",
    )
    broad_dark_ratio: float = Field(
        0.5, gt=0,
        description="a bright band wider than max_width_mm (a broad band of a large "
        "implant, see broad_streaks) is a streak only when the arc on each side of it, as "
        "wide as the band, holds a dark band under the tissue level by at least this "
        "fraction of the band's peak excess over it. Heuristic from what streaks are: the "
        "bright and dark bands of one artefact alternate round the metal with like "
        "amplitude; a bone's band peaks at its cortex (several hundred HU over soft "
        "tissue), which fat beside it (about 150 HU under muscle) does not match",
    )
    air_hu: float = Field(
        -400.0,
        description="HU under this (gas, aerated lung) is not a dark band: the body mask's "
        "air threshold, between aerated lung (about -900 to -500 HU) and fat (about "
        "-100 HU), so a thin bone beside gas (a pneumatised wall, the sternum on the lung) "
        "is not taken for a streak",
    )


def _arc_windows(n_theta: int, radii_mm: NDArray[np.float64], window_mm: float
                 ) -> NDArray[np.intp]:
    """Half-width (samples) of the arc window on each circle, at most a quarter turn."""
    dtheta = 2.0 * np.pi / n_theta
    with np.errstate(divide="ignore"):
        half = np.ceil(window_mm / (np.maximum(radii_mm, 1e-6) * dtheta))
    return np.asarray(np.clip(half, 1, n_theta // 4), dtype=np.intp)


def _window_orders(rows: NDArray[np.float64], cols: NDArray[np.intp], w: NDArray[np.intp],
                   fractions: tuple[float, ...]) -> list[NDArray[np.float64]]:
    """Order statistics of circular windows: per sample, the values at `fractions`.

    Sample m's window is ``rows[m][cols[m] + (-w[m]..w[m])]`` (wrapped); each
    fraction f gives its sorted value at index ``round(f * 2 w[m])``.
    """
    n_theta = rows.shape[1]
    widest = int(w.max())
    offsets = np.arange(-widest, widest + 1)
    take = (cols[:, None] + offsets[None, :]) % n_theta
    values = np.take_along_axis(rows, take, axis=1)
    # outside a sample's own window: +inf, sorted past its own values
    values[np.abs(offsets)[None, :] > w[:, None]] = np.inf
    values.sort(axis=1)
    return [values[np.arange(len(w)), np.rint(f * 2 * w).astype(np.intp)] for f in fractions]


def _circular_runs(bright: NDArray[np.bool_]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Starts and lengths (samples) of the True runs of a circular row (a run may wrap)."""
    n = len(bright)
    if bright.all():
        return np.zeros(1, dtype=np.intp), np.full(1, n, dtype=np.intp)
    if not bright.any():
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    shift = int(np.flatnonzero(~bright)[0])  # start the row on a dark sample
    rolled = np.roll(bright, -shift).astype(np.int8)
    edges = np.diff(np.concatenate([[0], rolled, [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return (starts + shift) % n, stops - starts


def _run_lengths(bright: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Per sample of a circular row, the length (samples) of the bright run holding it."""
    n = len(bright)
    lengths = np.zeros(n, dtype=np.int64)
    for a, length in zip(*_circular_runs(bright), strict=True):
        lengths[(a + np.arange(length)) % n] = length
    return lengths


def _half_gaps(starts: NDArray[np.intp], lengths: NDArray[np.intp], n: int
               ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Half the gaps (samples, at least one) before and after each bright run.

    Runs of a circular row of `n` samples; a lone run's gap is the rest of the row.
    """
    if len(starts) == 0:
        return starts, starts
    order = np.argsort(starts)
    s, ln = starts[order], lengths[order]
    gap_after = (np.roll(s, -1) - (s + ln)) % n
    if len(s) == 1:
        gap_after = np.array([n - ln[0]])
    gap_before = np.roll(gap_after, 1)
    before, after = np.empty_like(s), np.empty_like(s)
    before[order] = np.maximum(gap_before // 2, 1)
    after[order] = np.maximum(gap_after // 2, 1)
    return before, after


def _broad_row(row: NDArray[np.float64], tissue: NDArray[np.float64], arc_mm: float,
               cap_mm: NDArray[np.float64], cfg: StreakConfig) -> NDArray[np.bool_]:
    """Samples of one circle (`row`, HU) in a broad bright band that is a streak.

    A band (a run at or above ``mineral_hu``) wider than ``max_width_mm`` but no wider
    than the metal's projected width across its direction (`cap_mm`, per angle) is a
    streak when the tissue level (median over the band and an arc on each side as
    wide as the band, or to the middle of the gap before the next bright band when
    that is nearer: one period of the alternation, so that the level is not drawn
    down to the dark bands) is soft tissue and each side arc holds a dark band (its
    ``dark_quantile`` of `tissue`, where gas counts as not dark) under that level by
    ``max(min_dark_hu, broad_dark_ratio * peak excess)``.
    """
    n = len(row)
    out = np.zeros(n, dtype=bool)
    starts, lengths = _circular_runs(row >= cfg.mineral_hu)
    before, after = _half_gaps(starts, lengths, n)
    for start, length, gap_a, gap_b in zip(starts, lengths, before, after, strict=True):
        width_mm = length * arc_mm
        centre = (start + length // 2) % n
        if width_mm <= cfg.max_width_mm or width_mm > cap_mm[centre] or 3 * length > n:
            continue
        a, b = min(length, gap_a), min(length, gap_b)
        band = (start + np.arange(length)) % n
        sides = ((start - a + np.arange(a)) % n, (start + length + np.arange(b)) % n)
        level = float(np.median(row[np.concatenate([sides[0], band, sides[1]])]))
        if level >= cfg.mineral_hu:
            continue
        need = max(cfg.min_dark_hu,
                   cfg.broad_dark_ratio * (float(row[band].max()) - level))
        if all(level - float(np.quantile(tissue[side], cfg.dark_quantile)) >= need
               for side in sides):
            out[band] = True
    return out


def _projected_width_mm(pts_mm: NDArray[np.float64], theta: NDArray[np.float64],
                        pixel_mm: float) -> NDArray[np.float64]:
    """Width (mm) of a metal cross-section (points, mm) across each direction `theta`.

    The extent of the points projected on the line normal to the direction, plus a
    pixel: the width of the strip of rays along that direction that cross the metal.
    """
    hull = pts_mm[::max(1, len(pts_mm) // 4000)]
    proj = np.outer(-np.sin(theta), hull[:, 0]) + np.outer(np.cos(theta), hull[:, 1])
    return np.asarray(proj.max(axis=1) - proj.min(axis=1) + pixel_mm, dtype=np.float64)


def _polar_streaks(polar: NDArray[np.float64], half: NDArray[np.intp], ri: NDArray[np.intp],
                   tj: NDArray[np.intp], cfg: StreakConfig, step_mm: float,
                   cap_mm: NDArray[np.float64] | None = None) -> NDArray[np.bool_]:
    """Bright-streak flags at polar samples ``(ri, tj)`` (rows: radii, columns: angles).

    `cap_mm` (per angle) is the metal's projected width across that direction, the
    widest a broad band may be (:func:`_broad_row`); without it only narrow bands
    are streaks.
    """
    out = np.zeros(len(ri), dtype=bool)
    value = polar[ri, tj]
    at = np.flatnonzero(value >= cfg.mineral_hu)
    if len(at) == 0:
        return out
    # gas is no dark band: counted as not dark at all
    tissue = np.where(polar < cfg.air_hu, 1e4, polar)
    # narrow: the bright run along the circle through the sample
    arc_mm = 2.0 * np.pi / polar.shape[1] * (ri[at] + 1) * step_mm
    width = np.zeros(len(at))
    for i in np.unique(ri[at]):
        sel = ri[at] == i
        width[sel] = _run_lengths(polar[i] >= cfg.mineral_hu)[tj[at][sel]]
    narrow = width * arc_mm <= cfg.max_width_mm
    broad = at[~narrow]
    at = at[narrow]
    if cap_mm is not None and len(broad):
        for i in np.unique(ri[broad]):
            sel = broad[ri[broad] == i]
            row_arc = 2.0 * np.pi / polar.shape[1] * (i + 1) * step_mm
            out[sel] = _broad_row(polar[i], tissue[i], row_arc, cap_mm, cfg)[tj[sel]]
    if len(at) == 0:
        return out
    w = half[ri[at]]
    (level,) = _window_orders(polar[ri[at]], tj[at], w, (0.5,))
    (dark,) = _window_orders(tissue[ri[at]], tj[at], w, (cfg.dark_quantile,))
    excess = value[at] - level
    out[at] = (level < cfg.mineral_hu) & (
        level - dark >= np.maximum(cfg.min_dark_hu, cfg.dark_ratio * excess))
    return out


def metal_streaks(
    hu: NDArray[Any],
    spacing_mm: tuple[float, float, float],
    ijk: NDArray[np.integer[Any]],
    metal_ijk: NDArray[np.integer[Any]],
    *,
    radius_mm: float,
    config: StreakConfig | None = None,
) -> NDArray[np.bool_]:
    """Which of the voxels `ijk` are bright metal streaks.

    Parameters
    ----------
    hu : (I, J, K) ndarray
        CT in HU; axis 2 is the slice axis (streaks lie in its planes).
    spacing_mm : tuple of float
        Voxel size (mm) along I, J, K.
    ijk : (N, 3) ndarray of int
        Full-grid indices of the voxels to judge (candidate mineral).
    metal_ijk : (M, 3) ndarray of int
        Full-grid indices of the metal voxels (HU >= the metal threshold, as given
        to :func:`calcdx.masks.exclusions.find_metal`).
    radius_mm : float
        In-plane distance (mm) from a metal cross-section's centroid out to which
        streaks are sought (the metal's streak zone).
    config : StreakConfig, optional
        Levels and sizes; defaults when omitted.

    Returns
    -------
    (N,) ndarray of bool
        True for the voxels taken for bright streaks (see the module's rule).
    """
    cfg = config or StreakConfig()
    ijk = np.asarray(ijk)
    out = np.zeros(len(ijk), dtype=bool)
    if len(ijk) == 0:
        return out
    sx, sy = float(spacing_mm[0]), float(spacing_mm[1])
    step = min(sx, sy)
    order = np.argsort(ijk[:, 2], kind="stable")
    ks, starts = np.unique(ijk[order, 2], return_index=True)
    bounds = np.append(starts, len(order))
    metal_ijk = np.asarray(metal_ijk)
    if len(metal_ijk) == 0:
        return out
    m_order = np.argsort(metal_ijk[:, 2], kind="stable")
    m_ks, m_starts = np.unique(metal_ijk[m_order, 2], return_index=True)
    m_bounds = np.append(m_starts, len(m_order))
    m_at = {int(k): m_order[m_bounds[i]: m_bounds[i + 1]] for i, k in enumerate(m_ks)}
    for n_k, k in enumerate(ks):
        k = int(k)
        # the slice's own metal, else the metal of the slice on either side
        sources = [k] if k in m_at else [s for s in (k - 1, k + 1) if s in m_at]
        if not sources:
            continue
        sel = order[bounds[n_k]: bounds[n_k + 1]]
        pts = metal_ijk[np.concatenate([m_at[s] for s in sources]), :2]
        m_lo = pts.min(axis=0)
        metal2d = np.zeros(tuple(int(v) for v in pts.max(axis=0) - m_lo + 1), dtype=bool)
        metal2d[pts[:, 0] - m_lo[0], pts[:, 1] - m_lo[1]] = True
        blobs, n_blobs = ndi.label(metal2d, structure=np.ones((3, 3), dtype=bool))
        plane = np.asarray(hu[:, :, k], dtype=np.float64)
        at_blob = blobs[pts[:, 0] - m_lo[0], pts[:, 1] - m_lo[1]]
        for b in range(1, n_blobs + 1):
            blob_mm = pts[at_blob == b] * np.array([sx, sy])
            centre_mm = blob_mm.mean(axis=0)
            ci, cj = centre_mm[0] / sx, centre_mm[1] / sy
            # the zone reaches radius_mm beyond the cross-section's farthest voxel
            outer = radius_mm + float(np.hypot(*(blob_mm - centre_mm).T).max())
            di = (ijk[sel, 0] - ci) * sx
            dj = (ijk[sel, 1] - cj) * sy
            dist = np.hypot(di, dj)
            near = (dist >= step / 2) & (dist <= outer)
            if not near.any():
                continue
            radii = np.arange(step, outer + step / 2, step)
            n_theta = max(64, int(np.ceil(2.0 * np.pi * outer / step)))
            theta = np.arange(n_theta, dtype=np.float64) * (2.0 * np.pi / n_theta)
            half = _arc_windows(n_theta, radii, cfg.window_mm)
            reach = (int(np.ceil(outer / sx)) + 1, int(np.ceil(outer / sy)) + 1)
            lo = (max(int(ci) - reach[0], 0), max(int(cj) - reach[1], 0))
            xs = ci + np.outer(radii, np.cos(theta)) / sx - lo[0]
            ys = cj + np.outer(radii, np.sin(theta)) / sy - lo[1]
            crop = plane[lo[0]: int(ci) + reach[0] + 1, lo[1]: int(cj) + reach[1] + 1]
            polar = ndi.map_coordinates(crop, [xs, ys], order=1, mode="nearest")
            ri = np.clip(np.rint(dist[near] / step).astype(np.intp) - 1, 0, len(radii) - 1)
            tj = np.rint(np.mod(np.arctan2(dj[near], di[near]), 2.0 * np.pi)
                         / (2.0 * np.pi / n_theta)).astype(np.intp) % n_theta
            rel_mm = np.asarray(blob_mm - centre_mm, dtype=np.float64)
            cap = _projected_width_mm(rel_mm, theta, step)
            out[sel[near]] |= _polar_streaks(polar, half, ri, tj, cfg, step, cap)
    return out


def implant_cavities(
    hu: NDArray[Any],
    metal_ijk: NDArray[np.integer[Any]],
    *,
    mineral_hu: float = 130.0,
) -> tuple[tuple[int, int, int], NDArray[np.bool_]]:
    """The cavities an implant's metal encloses that hold no bone: its bearing, not marrow.

    A hip's metal head sits in a metal cup with the polyethylene liner (about -100 HU)
    between them; in the slices of the cup the liner is a ring enclosed by metal
    alone. The skeleton's filling (:func:`calcdx.masks.bone.bone_mask`, step 3) fills
    what bone *and* the metal touching it enclose, and would take the liner for
    marrow. Rule: in each plane (axial, coronal, sagittal) of the metal's bounding
    box, a hole of the metal (a region the metal alone encloses, 2-D) whose median
    HU is under `mineral_hu` holds no bone: it is the implant's own cavity and is
    never filled. A hole holding bone (the femoral condyles inside a knee's femoral
    component, cancellous bone of a few hundred HU; the bone inside a resurfacing
    cap) keeps its median over `mineral_hu` and stays bone; bone and cement round a
    stem are enclosed by the cortex, not by the metal, and are not affected.

    Stated limits: an osteoporotic bone inside a metal shell whose median reads under
    `mineral_hu` is taken for a cavity; an all-polyethylene (cemented) cup has no
    metal shell, and its liner enclosed by cement and bone is still filled.

    Parameters
    ----------
    hu : (I, J, K) ndarray
        CT in HU.
    metal_ijk : (M, 3) ndarray of int
        Full-grid indices of the metal voxels.
    mineral_hu : float
        Mineral threshold (HU): a hole whose median reaches it holds bone.

    Returns
    -------
    (offset, (A, B, C) ndarray of bool)
        Full-grid index of the mask's first voxel, and the cavities on the metal's
        bounding box.
    """
    metal_ijk = np.asarray(metal_ijk)
    if len(metal_ijk) == 0:
        return (0, 0, 0), np.zeros((0, 0, 0), dtype=bool)
    lo = metal_ijk.min(axis=0)
    hi = metal_ijk.max(axis=0) + 1
    metal = np.zeros(tuple(int(v) for v in hi - lo), dtype=bool)
    metal[tuple((metal_ijk - lo).T)] = True
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    values = np.asarray(hu[box], dtype=np.float32)
    out = np.zeros_like(metal)
    for axis in range(3):
        holes = np.zeros_like(metal)
        for k in range(metal.shape[axis]):
            m = np.take(metal, k, axis=axis)
            if m.any():
                h = ndi.binary_fill_holes(m) & ~m
                index: list[Any] = [slice(None)] * 3
                index[axis] = k
                holes[tuple(index)] = h
        if not holes.any():
            continue
        # each hole apart: 2-D parts in its plane (4-connected, as fill_holes)
        structure = np.zeros((3, 3, 3), dtype=bool)
        structure[1, 1, 1] = True
        for a in range(3):
            if a != axis:
                idx = [1, 1, 1]
                idx[a] = 0
                structure[tuple(idx)] = True
                idx[a] = 2
                structure[tuple(idx)] = True
        lab, n = ndi.label(holes, structure=structure)
        medians = np.asarray(ndi.median(values, lab, np.arange(1, n + 1)))
        poor = np.zeros(n + 1, dtype=bool)
        poor[1:] = medians < mineral_hu
        out |= poor[lab]
    return (int(lo[0]), int(lo[1]), int(lo[2])), out


class StentConfig(BaseModel):
    """Sizes and levels of :func:`find_stents` (HU, mm, degrees), each with its basis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strut_min_hu: float = Field(
        1000.0,
        description="least peak HU of a strut. Heuristic from how stents read on CT: "
        "nitinol and thin stainless-steel struts (0.1-0.3 mm) often read 1000-2000 HU at "
        "clinical kernels and sub-millimetre voxels, blurred by partial volume; the metal "
        "threshold (2500 HU) takes the denser ones. Most wall calcification is less dense",
    )
    link_mm: float = Field(
        10.0, gt=0,
        description="cell size (mm) of the grid on which dense candidates are grouped "
        "(26-connected cells): struts of one stent are at most a cell of a lattice apart. "
        "Heuristic: stent cells and the gaps between Z-stent rings are a few mm to about "
        "10 mm",
    )
    radius_mm: tuple[float, float] = Field(
        (3.0, 20.0),
        description="radius range (mm) of a stent's circle. Heuristic from vessel sizes: "
        "iliac and visceral stents 3-5 mm, aortic stent grafts 10-18 mm; coronary stents "
        "(1.25-2.5 mm) are too small for a ring to be resolved at clinical voxels",
    )
    max_offset_mm: float = Field(
        1.5, gt=0,
        description="90 % of a ring's dense voxels lie within this of its circle. Heuristic: "
        "a strut (0.1-0.3 mm) bloomed by the point-spread function of clinical CT spans "
        "about 1-2 mm",
    )
    max_gap_deg: float = Field(
        120.0, gt=0, le=360,
        description="largest angular gap between a ring's dense voxels round its centre. "
        "Heuristic: a stent covers the whole circumference (a Z-ring or braid crosses every "
        "slice at six or more points), wall calcification usually part of it",
    )
    max_cover: float = Field(
        0.7, gt=0, le=1,
        description="largest fraction of a ring's circle (arcs of max_offset_mm) holding "
        "dense voxels. Heuristic from what a stent is: an open lattice of thin wire whose "
        "struts, even bloomed at clinical voxels, leave much of the circle open; a metal "
        "tube (a cannulated nail) or a circumferential calcified ring fills it",
    )
    min_length_mm: float = Field(
        15.0, gt=0,
        description="least length (mm) spanned by a stent's ring slices. Heuristic: "
        "peripheral and visceral stents are about 15-150 mm long, stent grafts longer; a "
        "plaque is a few mm long",
    )
    min_ring_fraction: float = Field(
        0.6, gt=0, le=1,
        description="least fraction of a group's slices that are rings: a stent is "
        "continuous over its length (heuristic; slices at a ring's apices may hold too few "
        "points)",
    )
    max_peak_spread: float = Field(
        0.3, gt=0,
        description="largest IQR of the dots' peak HU over their median: a stent is one "
        "wire, of one density along it (heuristic; calcification is of uneven density)",
    )
    margin_mm: float = Field(
        2.0, ge=0,
        description="candidate voxels within this of a stent's struts are blooming, "
        "not lesions (the metal margin of calcdx.analysis.AnalysisParameters)",
    )


def _ring(xy: NDArray[np.float64], cfg: StentConfig
          ) -> tuple[float, NDArray[np.float64]] | None:
    """The circle (radius, centre; mm) the points `xy` (mm) lie on as a stent's ring, or None."""
    if len(xy) < 3:
        return None
    a = np.column_stack([xy, np.ones(len(xy))])
    sol, *_ = np.linalg.lstsq(a, (xy**2).sum(axis=1), rcond=None)
    centre = sol[:2] / 2.0
    r2 = sol[2] + (centre**2).sum()
    if r2 <= 0:
        return None
    radius = float(np.sqrt(r2))
    if not cfg.radius_mm[0] <= radius <= cfg.radius_mm[1]:
        return None
    d = xy - centre
    offset = np.abs(np.hypot(d[:, 0], d[:, 1]) - radius)
    if np.quantile(offset, 0.9) > cfg.max_offset_mm:
        return None
    angles = np.sort(np.degrees(np.arctan2(d[:, 1], d[:, 0])))
    gaps = np.diff(np.concatenate([angles, angles[:1] + 360.0]))
    if float(gaps.max()) > cfg.max_gap_deg:
        return None
    # an open lattice: arcs of max_offset_mm holding a dense voxel
    n_bins = max(int(2.0 * np.pi * radius / cfg.max_offset_mm), 8)
    held = np.unique(((angles + 180.0) / 360.0 * n_bins).astype(np.intp) % n_bins)
    return (radius, centre) if len(held) <= cfg.max_cover * n_bins else None


def _on_the_rings(ijk: NDArray[np.int64], circles: dict[int, tuple[float, NDArray[np.float64]]],
                  spacing: NDArray[np.float64], cfg: StentConfig) -> NDArray[np.bool_]:
    """Which voxels belong to dots lying on the stent's wire (its rings' circles).

    The voxels are split into per-slice 2-D parts (8-connected); a part is wire when the
    median distance of its voxels from the slice's circle is at most ``max_offset_mm``
    (the ring rule's tolerance). The slice's circle is the median (centre and radius) of
    the ring slices within ``link_mm`` along the slices (the nearest one when none is):
    a plaque that passes as part of one slice's ring pulls that slice's fit, not the
    median of its neighbours'. A calcified plaque on the wall outside the struts, as dense
    as they are, is a patch reaching off that circle and is left.
    """
    out = np.zeros(len(ijk), dtype=bool)
    ring_ks = np.asarray(sorted(circles))
    fits = np.asarray([[*circles[int(k)][1], circles[int(k)][0]] for k in ring_ks])
    for k in np.unique(ijk[:, 2]):
        at = np.flatnonzero(ijk[:, 2] == k)
        near = np.abs(ring_ks - k) * float(spacing[2]) <= cfg.link_mm
        if not near.any():
            near = np.abs(ring_ks - k) == np.abs(ring_ks - k).min()
        cx, cy, radius = np.median(fits[near], axis=0)
        centre = np.array([cx, cy])
        pts = ijk[at, :2]
        lo = pts.min(axis=0)
        mask = np.zeros(tuple(int(v) for v in pts.max(axis=0) - lo + 1), dtype=bool)
        mask[pts[:, 0] - lo[0], pts[:, 1] - lo[1]] = True
        lab, n = ndi.label(mask, structure=np.ones((3, 3), dtype=bool))
        part = lab[pts[:, 0] - lo[0], pts[:, 1] - lo[1]]
        d = pts * spacing[:2] - centre
        offset = np.abs(np.hypot(d[:, 0], d[:, 1]) - radius)
        for c in range(1, n + 1):
            of = part == c
            if float(np.median(offset[of])) <= cfg.max_offset_mm:
                out[at[of]] = True
    return out


def _dot_peaks(ijk: NDArray[np.integer[Any]], hu: NDArray[Any]) -> list[float]:
    """Peak HU of each per-slice 2-D part (8-connected) of the voxels."""
    peaks: list[float] = []
    for k in np.unique(ijk[:, 2]):
        at = ijk[:, 2] == k
        pts, vals = ijk[at, :2], hu[at]
        lo = pts.min(axis=0)
        mask = np.zeros(tuple(int(v) for v in pts.max(axis=0) - lo + 1), dtype=bool)
        mask[pts[:, 0] - lo[0], pts[:, 1] - lo[1]] = True
        lab, n = ndi.label(mask, structure=np.ones((3, 3), dtype=bool))
        part = lab[pts[:, 0] - lo[0], pts[:, 1] - lo[1]]
        peaks += [float(v) for v in ndi.maximum(vals, part, range(1, n + 1))]
    return peaks


def find_stents(
    pieces: list[tuple[NDArray[np.integer[Any]], NDArray[Any]]],
    affine: NDArray[np.float64],
    *,
    config: StentConfig | None = None,
) -> tuple[list[NDArray[np.bool_]], list[MetalObject]]:
    """Find stents among candidate lesions; which of their voxels are struts or blooming.

    Parameters
    ----------
    pieces : list of ((N, 3) int ndarray, (N,) ndarray)
        Candidate lesions: full-grid voxel indices and their HU.
    affine : (4, 4) ndarray
        Voxel-to-world affine (mm); axis 2 is the slice axis.
    config : StentConfig, optional

    Returns
    -------
    (list of (N,) bool ndarray, list of MetalObject)
        Per piece, its voxels that are a stent's struts or their blooming (to
        drop); the stents found.
    """
    cfg = config or StentConfig()
    drop = [np.zeros(len(p[0]), dtype=bool) for p in pieces]
    dense = [i for i, p in enumerate(pieces) if len(p[1]) and float(p[1].max()) >= cfg.strut_min_hu]
    if not dense:
        return drop, []
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    # group dense candidates on a grid of link_mm cells (26-connected)
    cell = np.maximum(np.rint(cfg.link_mm / spacing).astype(np.int64), 1)
    cells = [np.asarray(pieces[i][0], dtype=np.int64) // cell for i in dense]
    lo = np.min([c.min(axis=0) for c in cells], axis=0)
    occ = np.zeros(tuple(int(v) + 1 for v in np.max([c.max(axis=0) for c in cells], axis=0) - lo),
                   dtype=bool)
    for c in cells:
        occ[tuple((c - lo).T)] = True
    lab = cc3d.connected_components(occ, connectivity=26)
    group_of = [int(lab[tuple(c[0] - lo)]) for c in cells]
    stents: list[MetalObject] = []
    strut_sets: list[NDArray[np.int64]] = []
    for g in sorted(set(group_of)):
        members = [i for i, gg in zip(dense, group_of, strict=True) if gg == g]
        all_ijk = np.concatenate([pieces[i][0] for i in members]).astype(np.int64)
        all_hu = np.concatenate([pieces[i][1] for i in members])
        keep = all_hu >= cfg.strut_min_hu
        ijk, hu = all_ijk[keep], all_hu[keep]
        xyz = ijk @ affine[:3, :3].T.astype(np.float64) + affine[:3, 3]
        ks = np.unique(ijk[:, 2])
        ring_r = []
        circles: dict[int, tuple[float, NDArray[np.float64]]] = {}
        for k in ks:
            at = ijk[:, 2] == k
            # in-plane coordinates (mm) of the slice: voxel indices times spacing
            fit = _ring(ijk[at, :2] * spacing[:2], cfg)
            if fit is not None:
                ring_r.append((int(k), fit[0]))
                circles[int(k)] = fit
        if not ring_r:
            continue
        span = (int(ks.max()) - int(ks.min()) + 1)
        ring_ks = [k for k, _ in ring_r]
        length = (max(ring_ks) - min(ring_ks) + 1) * float(spacing[2])
        if length < cfg.min_length_mm or len(ring_ks) < cfg.min_ring_fraction * span:
            continue
        peaks = np.asarray(_dot_peaks(ijk, hu))
        q25, q50, q75 = np.percentile(peaks, [25, 50, 75])
        if q50 <= 0 or (q75 - q25) / q50 > cfg.max_peak_spread:
            continue
        centre = xyz.mean(axis=0)
        stents.append(MetalObject(
            volume_mm3=float(len(ijk)) * float(abs(np.linalg.det(affine[:3, :3]))),
            centroid_mm=(float(centre[0]), float(centre[1]), float(centre[2])),
            peak_hu=float(hu.max()), length_mm=length,
            radius_mm=float(np.median([r for _, r in ring_r])), matrix="stent",
        ))
        # the struts' extent at half their maximum (the usual measure of a blurred
        # object's width): their blooming below strut_min_hu is strut, a plaque on the
        # wall less dense than that is not
        bright = all_ijk[all_hu >= min(cfg.strut_min_hu, 0.5 * q50)]
        strut_sets.append(bright[_on_the_rings(bright, circles, spacing, cfg)])
    if not strut_sets:
        return drop, []
    struts = np.concatenate(strut_sets)
    sp = (float(spacing[0]), float(spacing[1]), float(spacing[2]))
    for i, (p_ijk, _) in enumerate(pieces):
        drop[i] = near_struts(np.asarray(p_ijk), struts, sp, cfg.margin_mm)
    return drop, stents


def near_struts(ijk: NDArray[np.integer[Any]], struts: NDArray[np.integer[Any]],
                spacing_mm: tuple[float, float, float], margin_mm: float) -> NDArray[np.bool_]:
    """Which voxels `ijk` lie within `margin_mm` of a strut voxel (both (N, 3) int indices)."""
    out = np.zeros(len(ijk), dtype=bool)
    if len(ijk) == 0 or len(struts) == 0:
        return out
    spacing = np.asarray(spacing_mm, dtype=np.float64)
    reach = np.ceil(margin_mm / spacing).astype(np.int64) + 1
    box = np.all((ijk >= struts.min(axis=0) - reach) & (ijk <= struts.max(axis=0) + reach),
                 axis=1)
    if box.any():
        dist, _ = cKDTree(struts * spacing).query(ijk[box] * spacing,
                                                  distance_upper_bound=margin_mm + 1e-6)
        out[np.flatnonzero(box)] = dist <= margin_mm + 1e-6
    return out
