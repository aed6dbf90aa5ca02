"""Contrast phase from the image: native, arterial or portal venous.

Method
------
1. **Blood pool (the aorta).** The aorta is the large round tube of the trunk.
   Up to ``max_sections`` axial sections are resampled to ``step_mm`` pixels;
   circles of radius ``radius_mm`` are found with a Hough transform on the
   Canny edges of the smoothed section (HU clipped to -200..600, so bone and
   air do not dominate the edges). A circle is a lumen candidate when its core
   (0.7 x radius) is homogeneous (robust SD <= max(``max_sd_hu``,
   ``max_sd_fraction`` x median)), its median lies in ``blood_hu``, it differs
   from the ring around it (1.25-1.75 x radius) by >= ``min_edge_contrast_hu``
   and no bone (>= max(400 HU, median + 150 HU)) lies on it. Candidates of
   consecutive sections are linked into tracks (centre within max(6 mm,
   radius / 2), median within max(30 HU, 20 %), across gaps of up to 2.5 section
   steps and at least 2.5 x ``step_mm``, so a tube missed in a few closely spaced
   thin sections stays one track); a track spanning at least
   ``min_track_mm`` along the slices, in ``min_sections`` sections, is a tube. The densest of the
   ``n_best_tracks`` best tubes (length x mean Hough score) is the blood pool:
   only tubes at least ``long_fraction`` as long as the best compete;
   in an enhanced study the enhanced aorta is the densest homogeneous tube of
   the trunk; in a native one every tube is of blood or soft-tissue density.
   In a stack of fewer than ``min_sections`` sections no tube can be followed:
   the densest of the ``n_best_tracks`` best circles stands for the blood pool.
2. **Parenchyma (liver, spleen) as support.** On a ~``organ_grid_mm`` grid,
   voxels of local mean in ``organ_hu`` and local SD <= ``organ_max_sd_hu``
   inside the body; the largest 26-connected region is the parenchyma (the
   liver where it is in view) and its median HU is reported.
3. **Phase.** Blood pool < ``enhanced_blood_hu``: native; below
   ``arterial_blood_hu``: portal venous; at or above: arterial. Without a tube,
   parenchyma >= ``enhanced_organ_hu`` gives portal venous; else a contrast
   agent in the DICOM header (ContrastBolusAgent / ContrastBolusRoute) gives
   enhanced of unknown phase; else native. The header is support only: a
   measured unenhanced blood pool wins over it, with the conflict stated.

Basis
-----
calcdx heuristics. Unenhanced blood is of soft-tissue density (the
TotalSegmentator masks of the shared native scan: aorta 43 HU, liver 46 HU);
portal venous enhancement raises the aorta to ~150 HU and the liver to ~90 HU
(shared Siemens series: aorta 151, liver 93, spleen 80 HU); an arterial CT
angiogram fills the aorta well above 250 HU (shared CTA: ~470 HU). Contrast
timing and the enhancement of aorta and liver by phase are reviewed by Bae,
Radiology 2010;256:32-61 (doi:10.1148/radiol.10090908); the cut-offs here are
calcdx's, placed between those measured groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import cc3d
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage as ndi

__all__ = [
    "BloodPool",
    "ContrastConfig",
    "ContrastPhase",
    "block_mean",
    "contrast_phase",
    "find_blood_pool",
    "find_tubes",
]

Phase = Literal["native", "arterial", "portal_venous", "enhanced_unknown"]


class ContrastConfig(BaseModel):
    """Parameters of :func:`contrast_phase` (HU and mm); each states its basis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step_mm: float = Field(2.0, gt=0, description="in-plane pixel of the analysed sections "
                           "(heuristic: an aorta of >= 8 mm radius spans >= 8 pixels)")
    max_sections: int = Field(48, ge=1, description="axial sections analysed, evenly spread "
                              "(heuristic: time bound; a tube needs only a few)")
    radius_mm: tuple[float, float] = Field(
        (8.0, 18.0), description="lumen radius searched: the aorta of an adult trunk, "
        "abdominal to ascending (Erbel 2014 ESC aortic guidelines, diameters ~16-36 mm)")
    blood_hu: tuple[float, float] = Field(
        (0.0, 700.0), description="median HU of a lumen, unenhanced to arterial (heuristic)")
    min_hough_score: float = Field(0.4, description="share of a circle's perimeter on edges "
                                   "for a candidate (heuristic)")
    max_circles: int = Field(30, ge=1, description="best circles kept per section")
    max_sd_hu: float = Field(20.0, description="robust SD of a homogeneous lumen core (HU; "
                             "heuristic above CT noise of 3 mm slices, ~10-15 HU)")
    max_sd_fraction: float = Field(0.12, description="robust SD allowed as a fraction of the "
                                   "median in a dense lumen (heuristic, beam hardening)")
    min_edge_contrast_hu: float = Field(40.0, description="lumen vs surrounding ring (HU; "
                                        "heuristic: a tube is seen against fat or tissue)")
    min_track_mm: float = Field(6.0, description="shortest tube along the slices (mm; "
                                "heuristic: three 2-3 mm sections)")
    min_sections: int = Field(3, ge=2, description="fewest sections a tube is seen in "
                              "(heuristic: a round cross-section seen once or twice may be "
                              "anything round)")
    n_best_tracks: int = Field(5, ge=1, description="best tubes among which the densest is "
                               "the blood pool (heuristic)")
    long_fraction: float = Field(0.5, gt=0, le=1, description="a candidate tube spans at least "
                                 "this fraction of the best tube's length (heuristic: short "
                                 "round cartilage and bowel segments are not the aorta)")
    organ_grid_mm: float = Field(4.0, gt=0, description="grid of the parenchyma search (mm)")
    organ_hu: tuple[float, float] = Field(
        (20.0, 200.0), description="local mean HU of parenchyma, native to enhanced (heuristic)")
    organ_max_sd_hu: float = Field(15.0, description="local SD of homogeneous parenchyma (HU; "
                                   "heuristic)")
    enhanced_blood_hu: float = Field(
        110.0, description="blood pool at or above: enhanced (calcdx heuristic between "
        "unenhanced blood ~40 HU and portal venous aorta ~150 HU, see module basis)")
    arterial_blood_hu: float = Field(
        250.0, description="blood pool at or above: arterial (calcdx heuristic between portal "
        "venous aorta ~150-200 HU and arterial CTA > 300 HU, see module basis)")
    enhanced_organ_hu: float = Field(
        85.0, description="parenchyma at or above, without a tube in view: portal venous "
        "(calcdx heuristic: native liver ~45-65 HU, portal venous ~90-110 HU)")


class BloodPool(BaseModel):
    """The tube taken for the aorta (blood pool)."""

    model_config = ConfigDict(frozen=True)

    median_hu: float
    robust_sd_hu: float
    ring_hu: float
    radius_mm: float
    length_mm: float
    n_sections: int
    centre_voxel: tuple[float, float, float]
    track_voxel: tuple[tuple[float, float, float], ...] = Field(
        default=(), description="centre (voxel indices) of each cross-section of the tube")


class ContrastPhase(BaseModel):
    """Contrast phase of a CT and the evidence for it."""

    model_config = ConfigDict(frozen=True)

    phase: Phase
    enhanced: bool
    blood_pool: BloodPool | None = None
    tubes: tuple[BloodPool, ...] = Field(
        default=(), description="the best round homogeneous tubes, the blood pool among them")
    parenchyma_hu: float | None = None
    parenchyma_volume_mm3: float = 0.0
    header_agent: str | None = None
    evidence: str


class _Circle(BaseModel):
    model_config = ConfigDict(frozen=True)

    z: float
    k: int
    i: float
    j: float
    radius: float
    score: float
    median: float
    sd: float
    ring: float


def _section_circles(
    section: NDArray[np.float32], step: float, k: int, z: float, config: ContrastConfig
) -> list[_Circle]:
    from skimage.feature import canny
    from skimage.transform import hough_circle

    lo, hi = config.radius_mm
    radii = np.arange(max(2, round(lo / step)), round(hi / step) + 1)
    if min(section.shape) < 2 * radii[-1] + 3:
        return []
    smooth = ndi.gaussian_filter(np.clip(section, -200.0, 600.0), 1.0)
    edges = canny(smooth, sigma=1.0, low_threshold=20.0,  # type: ignore[no-untyped-call]
                  high_threshold=50.0)
    if not edges.any():
        return []
    space = hough_circle(edges, radii)  # type: ignore[no-untyped-call]
    # peaks: the best radius per centre, local maxima over 7 x 7 centres (skimage's
    # hough_circle_peaks gives the same circles but labels every local maximum: slow)
    # (max and first argmax over the radii, in one running pass per radius)
    best = space[0].copy()
    arg = np.zeros(best.shape, dtype=np.intp)
    for n in range(1, len(radii)):
        better = space[n] > best
        best[better] = space[n][better]
        arg[better] = n
    radius_of = radii[arg]
    peaks = (best == ndi.maximum_filter(best, size=7)) & (best >= config.min_hough_score)
    flat = np.flatnonzero(peaks)
    flat = flat[np.argsort(best.ravel()[flat])[::-1][: config.max_circles]]
    ci, cj = np.unravel_index(flat, best.shape)
    out: list[_Circle] = []
    # per radius, the core, ring and inner disc of a patch 2 r around the centre
    # (distances of the integer offsets): a cut patch at the edge reads its part
    discs: dict[int, tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]] = {}
    for score, j, i, r in zip(best.ravel()[flat], cj, ci, radius_of.ravel()[flat],
                              strict=True):
        if int(r) not in discs:
            offsets = np.arange(-2 * r, 2 * r + 1)
            d = np.hypot(offsets[:, None], offsets[None, :])
            discs[int(r)] = (d <= 0.7 * r, (d >= 1.25 * r) & (d <= 1.75 * r), d <= 1.1 * r)
        i0, i1 = max(int(i - 2 * r), 0), min(int(i + 2 * r) + 1, section.shape[0])
        j0, j1 = max(int(j - 2 * r), 0), min(int(j + 2 * r) + 1, section.shape[1])
        cut = (slice(i0 - int(i - 2 * r), i1 - int(i - 2 * r)),
               slice(j0 - int(j - 2 * r), j1 - int(j - 2 * r)))
        core_at, ring_at, inner_at = (m[cut] for m in discs[int(r)])
        patch = section[i0:i1, j0:j1]
        core = patch[core_at]
        if core.size < 5 or np.count_nonzero(ring_at) < 5:
            continue
        # more than half the core below (above) the blood range: so is its median
        half = core.size // 2
        if (np.count_nonzero(core < config.blood_hu[0]) > half
                or np.count_nonzero(core > config.blood_hu[1]) > half):
            continue
        q1, median, q3 = (float(v) for v in np.percentile(core, [25, 50, 75]))
        sd = (q3 - q1) / 1.349
        if not config.blood_hu[0] <= median <= config.blood_hu[1]:
            continue
        if sd > max(config.max_sd_hu, config.max_sd_fraction * median):
            continue
        ring_hu = float(np.median(patch[ring_at]))
        if abs(median - ring_hu) < config.min_edge_contrast_hu:
            continue
        if np.mean(patch[inner_at] >= max(400.0, median + 150.0)) > 0.02:
            continue
        out.append(_Circle(z=z, k=k, i=float(i) * step, j=float(j) * step,
                           radius=float(r) * step, score=float(score), median=median, sd=sd,
                           ring=ring_hu))
    return out


def find_blood_pool(
    hu: NDArray[Any], spacing_mm: tuple[float, float, float], *,
    config: ContrastConfig | None = None,
) -> BloodPool | None:
    """Find the aorta as the densest of the best round homogeneous tubes.

    The first of :func:`find_tubes`; parameters and return as there.
    """
    return find_tubes(hu, spacing_mm, config=config)[0]


def _as_pool(track: list[_Circle], section_mm: float, spacing_mm: tuple[float, float, float]
             ) -> BloodPool:
    """A tube (linked circles) summarised as a :class:`BloodPool`."""
    sx, sy, _ = spacing_mm
    return BloodPool(
        median_hu=float(np.median([c.median for c in track])),
        robust_sd_hu=float(np.median([c.sd for c in track])),
        ring_hu=float(np.median([c.ring for c in track])),
        radius_mm=float(np.median([c.radius for c in track])),
        length_mm=float(track[-1].z - track[0].z + section_mm),
        n_sections=len(track),
        centre_voxel=(float(np.mean([c.i for c in track])) / sx,
                      float(np.mean([c.j for c in track])) / sy,
                      float(np.mean([c.k for c in track]))),
        track_voxel=tuple((c.i / sx, c.j / sy, float(c.k)) for c in track),
    )


def find_tubes(
    hu: NDArray[Any], spacing_mm: tuple[float, float, float], *,
    config: ContrastConfig | None = None,
) -> tuple[BloodPool | None, tuple[BloodPool, ...]]:
    """Find the aorta as the densest of the best round homogeneous tubes, and every tube.

    Parameters
    ----------
    hu : (I, J, K) ndarray
        CT in HU; axis 2 is the slice axis.
    spacing_mm : tuple of float
        Voxel size in mm.
    config : ContrastConfig, optional

    Returns
    -------
    pool : BloodPool or None
        None when no tube of at least ``min_track_mm`` is in view.
    tubes : tuple of BloodPool
        The ``n_best_tracks`` best tubes (the pool among them), best first; each is a
        lumen of its own density (aorta, pulmonary trunk, venae cavae). Empty in a thin
        stack, where tubes are not followed.
    """
    config = config or ContrastConfig()
    sx, sy, sz = spacing_mm
    step = max(config.step_mm, sx, sy)
    nk = hu.shape[2]
    ks = np.unique(np.linspace(0, nk - 1, min(nk, config.max_sections)).round().astype(int))
    circles: list[_Circle] = []
    for k in ks:
        section = ndi.zoom(np.asarray(hu[:, :, int(k)], dtype=np.float32),
                           (sx / step, sy / step), order=1)
        circles += _section_circles(section, step, int(k), float(k) * sz, config)
    if len(ks) < config.min_sections:
        # a thin stack: a tube cannot be followed; the densest of the best round
        # homogeneous lumens of its sections stands for the blood pool
        strongest = sorted(circles, key=lambda c: -c.score)[: config.n_best_tracks]
        if not strongest:
            return None, ()
        c = max(strongest, key=lambda c: c.median)
        return BloodPool(median_hu=c.median, robust_sd_hu=c.sd, ring_hu=c.ring,
                         radius_mm=c.radius, length_mm=sz, n_sections=1,
                         centre_voxel=(c.i / sx, c.j / sy, float(c.k)),
                         track_voxel=((c.i / sx, c.j / sy, float(c.k)),)), ()
    # a tube may be missed in a few sections: links bridge 2.5 section steps, and at
    # least 2.5 in-plane steps where sections lie closer than one in-plane step
    gap = 2.5 * max((float(ks[1] - ks[0]) if len(ks) > 1 else 1.0) * sz, step)
    tracks: list[list[_Circle]] = []
    for c in sorted(circles, key=lambda c: (c.z, -c.score)):
        best: list[_Circle] | None = None
        for t in tracks:
            p = t[-1]
            if (0 < c.z - p.z <= gap and np.hypot(c.i - p.i, c.j - p.j) <= max(6.0, p.radius / 2)
                    and abs(c.median - p.median) <= max(30.0, 0.2 * p.median)
                    and (best is None or len(t) > len(best))):
                best = t
        if best is not None:
            best.append(c)
        else:
            tracks.append([c])
    section_mm = float(ks[1] - ks[0]) * sz if len(ks) > 1 else sz
    tubes = [t for t in tracks if t[-1].z - t[0].z + section_mm >= config.min_track_mm
             and len(t) >= config.min_sections]
    if not tubes:
        return None, ()

    def length(t: list[_Circle]) -> float:
        return t[-1].z - t[0].z + section_mm

    tubes.sort(key=lambda t: -length(t) * float(np.mean([c.score for c in t])))
    longest = length(tubes[0])
    pool = max((t for t in tubes[: config.n_best_tracks]
                if length(t) >= config.long_fraction * longest),
               key=lambda t: float(np.median([c.median for c in t])))
    spacing = (sx, sy, sz)
    return (_as_pool(pool, section_mm, spacing),
            tuple(_as_pool(t, section_mm, spacing) for t in tubes[: config.n_best_tracks]))


def block_mean(hu: NDArray[Any], factors: tuple[int, int, int]) -> NDArray[np.float32]:
    """Mean HU over blocks of ``factors`` voxels (a partial last block is dropped).

    Parameters
    ----------
    hu : (I, J, K) ndarray
    factors : tuple of int
        Block size along each axis, in voxels.

    Returns
    -------
    (I // fi, J // fj, K // fk) ndarray of float32
        Integer HU whose block sums are exact in float32: from integer sums (memory:
        1 / fi of the volume in int32); otherwise one slab of ``fk`` slices at a time
        (memory: one slab in float32). The same float32 values either way.
    """
    fi, fj, fk = factors
    ni, nj, nk = hu.shape[0] // fi, hu.shape[1] // fj, hu.shape[2] // fk
    out = np.empty((ni, nj, nk), dtype=np.float32)
    count = fi * fj * fk
    if (np.issubdtype(hu.dtype, np.integer) and hu.dtype.itemsize <= 2 and hu.size
            and count * max(abs(int(hu.min())), abs(int(hu.max()))) < _EXACT_FLOAT32):
        # Integer HU whose block sums stay under 2**24: float32 sums of them are exact in
        # any order, so the integer sums, divided as numpy's mean divides, are the same
        # float32 means; summed axis by axis, the first two as in-place additions of
        # whole strided planes (no reduction with a cast per element), faster.
        view = hu[: ni * fi, : nj * fj, : nk * fk]
        total = view[0::fi].astype(np.int32)
        for a in range(1, fi):
            total += view[a::fi]
        rows = total[:, 0::fj].copy()
        for b in range(1, fj):
            rows += total[:, b::fj]
        del total
        sums = rows.reshape(ni, nj, nk, fk).sum(axis=3).astype(np.float32)
        return np.asarray(np.true_divide(sums, np.intp(count), out=sums, casting="unsafe"),
                          dtype=np.float32)
    for k in range(nk):
        view = hu[: ni * fi, : nj * fj, k * fk:(k + 1) * fk]
        slab = np.asarray(view, dtype=np.float32)
        out[:, :, k] = slab.reshape(ni, fi, nj, fj, fk).mean(axis=(1, 3, 4))
    return out


#: Integers below this magnitude are exact in float32, and so is every sum of them
#: whose partial sums stay below it.
_EXACT_FLOAT32 = 1 << 24


def _parenchyma(
    hu: NDArray[Any], spacing_mm: tuple[float, float, float],
    body: NDArray[np.bool_] | None, config: ContrastConfig,
) -> tuple[float | None, float]:
    """Median HU and volume (mm^3) of the largest homogeneous soft-tissue region."""
    f = [max(1, round(config.organ_grid_mm / s)) for s in spacing_mm]
    shape = [n // k for n, k in zip(hu.shape, f, strict=True)]
    if min(shape) < 3:
        return None, 0.0
    blocks = block_mean(hu, (f[0], f[1], f[2]))
    mean = ndi.uniform_filter(blocks, size=3)
    sd = np.sqrt(np.maximum(ndi.uniform_filter(blocks ** 2, size=3) - mean ** 2, 0.0))
    ok = (mean >= config.organ_hu[0]) & (mean <= config.organ_hu[1]) & (
        sd <= config.organ_max_sd_hu)
    if body is not None:
        ok &= body[: shape[0] * f[0] : f[0], : shape[1] * f[1] : f[1],
                   : shape[2] * f[2] : f[2]][: shape[0], : shape[1], : shape[2]]
    if not ok.any():
        return None, 0.0
    labels = cc3d.connected_components(ok, connectivity=26)
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    largest = labels == int(np.argmax(counts))
    cell = float(np.prod([s * k for s, k in zip(spacing_mm, f, strict=True)]))
    return float(np.median(blocks[largest])), float(largest.sum()) * cell


def contrast_phase(
    hu: NDArray[Any],
    spacing_mm: tuple[float, float, float],
    body: NDArray[np.bool_] | None = None,
    *,
    config: ContrastConfig | None = None,
    header: Mapping[str, Any] | None = None,
) -> ContrastPhase:
    """Decide the contrast phase of a CT from the image (the header as support).

    Parameters
    ----------
    hu : (I, J, K) ndarray
        CT in HU; axis 2 is the slice axis.
    spacing_mm : tuple of float
        Voxel size in mm.
    body : (I, J, K) ndarray of bool, optional
        The body; the parenchyma is searched inside it.
    config : ContrastConfig, optional
    header : mapping, optional
        Volume metadata; ``contrast_agent`` / ``contrast_route`` (DICOM
        ContrastBolusAgent / ContrastBolusRoute) are support.

    Returns
    -------
    ContrastPhase
    """
    config = config or ContrastConfig()
    meta = header or {}
    agent_raw = meta.get("contrast_agent") or meta.get("contrast_route")
    agent = str(agent_raw).strip() if agent_raw else None
    pool, tubes = find_tubes(hu, spacing_mm, config=config)
    organ_hu, organ_mm3 = _parenchyma(hu, spacing_mm, body, config)
    organ_txt = (f"largest homogeneous soft-tissue region (liver/spleen where in view) "
                 f"median {organ_hu:.0f} HU over {organ_mm3 / 1000:.0f} cm^3"
                 if organ_hu is not None else "no homogeneous parenchyma found")
    header_txt = f"DICOM header contrast agent/route {agent!r}" if agent else (
        "no contrast agent in the header")
    phase: Phase
    if pool is not None:
        pool_txt = (f"aorta (densest round homogeneous tube: radius {pool.radius_mm:.0f} mm, "
                    f"{pool.length_mm:.0f} mm along the slices) median {pool.median_hu:.0f} HU"
                    if pool.n_sections > 1 else
                    f"blood pool (thin stack: densest round homogeneous lumen of radius "
                    f"{pool.radius_mm:.0f} mm in one section, not followed as a tube) median "
                    f"{pool.median_hu:.0f} HU")
        if pool.median_hu < config.enhanced_blood_hu:
            phase = "native"
            rule = f"blood pool < {config.enhanced_blood_hu:g} HU: unenhanced"
            if agent:
                rule += ("; the header names a contrast agent but the blood is unenhanced "
                         "(delayed or failed bolus, or a non-contrast series of the study)")
        elif pool.median_hu < config.arterial_blood_hu:
            phase = "portal_venous"
            rule = (f"blood pool {config.enhanced_blood_hu:g}-{config.arterial_blood_hu:g} HU: "
                    "portal venous")
        else:
            phase = "arterial"
            rule = f"blood pool >= {config.arterial_blood_hu:g} HU: arterial"
        evidence = f"{pool_txt}; {organ_txt}; {header_txt}; {rule}"
    elif organ_hu is not None and organ_hu >= config.enhanced_organ_hu:
        phase = "portal_venous"
        evidence = (f"no aorta in view; {organ_txt} >= {config.enhanced_organ_hu:g} HU: "
                    f"enhanced parenchyma, portal venous; {header_txt}")
    elif agent:
        phase = "enhanced_unknown"
        evidence = (f"no aorta in view; {organ_txt}; {header_txt}: enhanced, phase not "
                    "measurable")
    else:
        phase = "native"
        evidence = f"no aorta in view; {organ_txt}; {header_txt}: taken as native"
    return ContrastPhase(
        phase=phase, enhanced=phase != "native", blood_pool=pool, tubes=tubes,
        parenchyma_hu=organ_hu,
        parenchyma_volume_mm3=organ_mm3, header_agent=agent, evidence=evidence,
    )
