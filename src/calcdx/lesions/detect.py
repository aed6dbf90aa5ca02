"""Detection: mineral at or above a threshold, inside the body, outside the masks.

Rules
-----
* Candidate mineral: HU >= ``threshold_hu`` (default 130 HU, the Agatston
  convention; the comparison is ``>=``).
* Connected components with ``connected-components-3d`` at **26-connectivity**
  (:data:`CONNECTIVITY`), labelled once over the whole grid; all later work uses
  the sparse list of candidate voxels or per-component crops.
* A component is dropped when none of its voxels is inside the body (table,
  cushions, objects outside the patient), when it is skeleton
  (:mod:`calcdx.masks.bone`), or when at least half of it lies inside bone
  (trabecular islands in marrow). Voxels in the bone's partial-volume rim, in
  metal and its streak zone (:mod:`calcdx.masks.exclusions`) are removed. Bright
  metal streaks (:mod:`calcdx.masks.metal`) leave the mineral before the skeleton
  is built. Stents (:func:`calcdx.masks.metal.find_stents`: among the metal, or
  among the candidate lesions when their struts read under the metal threshold)
  lose their struts and the voxels within ``metal_margin_mm`` (``stent.margin_mm``)
  of them, but get no streak zone: wall calcification round them is still found.
* Skeleton components keep their *residual deposits* (candidate voxels outside
  bone and its rim that are neither inside the bones' outline nor a
  partial-volume fringe, see :mod:`calcdx.masks.bone`), relabelled 26-connected,
  each with the rim voxels that touch it added back: a deposit touching bone is
  found and kept apart from the bone.
* Contrast: the phase measured from the image (:mod:`calcdx.masks.contrast`:
  the aorta's and the parenchyma's density, the header as support) decides
  whether the study is enhanced; the enhancing lumens and organs to suppress
  are the large smooth regions in the iodine range (areas in thin stacks,
  :mod:`calcdx.masks.exclusions`). In an enhanced study, a faint component
  whose surrounding tissue is
  itself enhanced (shell median >= ``enhancing_tissue_hu``) and whose peak is
  less than ``plaque_delta_hu`` above it is enhancing parenchyma, not reported.
* Enhancing lumens and organs keep only voxels denser than their plaque
  threshold (calcified wall plaque), relabelled 26-connected.
* Enhanced study, before the skeleton: the lumens continuous with the blood
  pool's tubes (:mod:`calcdx.masks.lumen`, each at its own density) leave the
  mineral of skeleton components (``bone_mask(blood_lumen=...)``); a deposit they
  leave behind that lies at least ``immersed_fraction`` inside them is blood, not
  wall plaque, and one touching them must peak ``window_hu`` above the median of
  the tube it touches (the plaque rule); mixing blood (undiluted or swirling contrast
  of the superior vena cava and right heart, denser than the pool's window) joins the
  lumen, and every candidate beside the lumen's blood must peak ``noise_k`` SDs (the
  larger of the noise and that blood's spread) above the blood beside it
  (:mod:`calcdx.masks.lumen`). A long filled tube of undiluted contrast
  reaching the edge of the grid (:mod:`calcdx.masks.injected`) is the injected
  vein, not reported.
* Noise (:mod:`calcdx.lesions.noise`): a lesion peaks at least ``noise_k``
  noise SDs above the soft tissue; in a contrast study, and in any noisy image,
  above its own local background (the tissue around it, which may be enhanced
  or dense, as costal cartilage). In a noisy image
  (tissue + ``noise_k`` SDs above the threshold: sharp kernel, low dose) it must
  keeps only its voxels at or next to a core at the threshold in the image
  smoothed in-plane by ``noise_smoothing_mm`` (detection only; measured on the
  original HU).
* Lesions smaller than ``min_volume_mm3`` (default 1.5 mm^3, the 3-D minimum of
  the Lessmann/Isgum open calcium scorer) are dropped.
* Lesion ids are 1..N ordered by decreasing volume (ties by position).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cc3d
import numpy as np
from numpy.typing import NDArray

from calcdx._threads import map_split, submit
from calcdx.lesions.noise import (
    NoiseEstimate,
    above_blood_pool,
    blood_pool_floor_hu,
    noise_sd_hu,
    shell_median_hu,
    smoothed_core,
)
from calcdx.masks.body import BodyMask, compute_body
from calcdx.masks.bone import BoneResult, ComponentBoxes, bone_mask
from calcdx.masks.contrast import ContrastPhase, contrast_phase
from calcdx.masks.exclusions import (
    ContrastAssessment,
    ContrastRegion,
    MetalObject,
    MetalResult,
    assess_contrast,
    density_summary,
    find_metal,
)
from calcdx.masks.injected import dense_contrast, injected_vein
from calcdx.masks.lumen import (
    LumenMask,
    blood_pool_lumen,
    local_blood,
    lumen_contact,
    mixing_blood,
    partial_volume_wall,
)
from calcdx.masks.metal import find_stents, implant_cavities, metal_streaks, near_struts
from calcdx.masks.ribcart import CartilageSite, cartilage_site

if TYPE_CHECKING:
    from calcdx.analysis import AnalysisParameters
    from calcdx.anatomy.labels import AnatomyLabels

__all__ = ["CONNECTIVITY", "Detection", "LesionVoxels", "detect_lesions"]

#: Voxel connectivity of lesions (faces, edges and corners).
CONNECTIVITY = 26

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class LesionVoxels:
    """The voxels of one detected lesion.

    Attributes
    ----------
    id : int
        Lesion id (value in the label map).
    ijk : (N, 3) ndarray of int32
        Full-grid voxel indices.
    hu : (N,) ndarray of float32
        HU of those voxels.
    origin : str
        ``"soft_tissue"``, ``"bone_adjacent"`` (residual of a skeleton
        component) or ``"vessel_wall_plaque"`` (denser than an enhancing lumen).
    touches_bone : bool
        A voxel is face-adjacent to bone or its partial-volume rim.
    """

    id: int
    ijk: NDArray[np.int32]
    hu: NDArray[np.float32]
    origin: str
    touches_bone: bool


@dataclass(frozen=True)
class Detection:
    """Everything detection found.

    Attributes
    ----------
    label_map : (I, J, K) ndarray of uint8, uint16 or uint32 (smallest that fits)
        Lesion id per voxel, 0 elsewhere; same grid as the input.
    lesions : list of LesionVoxels
    body : BodyMask
    bone : BoneResult
    metal : MetalResult
    contrast : ContrastAssessment
    contrast_regions : list of ContrastRegion
    summary : dict
        Counts and volumes of what was excluded, by reason.
    blood_pool_lumen : LumenMask or None
        The enhanced lumen continuous with the blood pool's tubes
        (:mod:`calcdx.masks.lumen`), kept out of the skeleton; None when not looked for.
    stents : list of MetalObject
        Stents found from their struts (:func:`calcdx.masks.metal.find_stents`).
    """

    label_map: NDArray[np.unsignedinteger[Any]]
    lesions: list[LesionVoxels]
    body: BodyMask
    bone: BoneResult
    metal: MetalResult
    contrast: ContrastAssessment
    contrast_regions: list[ContrastRegion]
    summary: dict[str, float] = field(default_factory=dict)
    blood_pool_lumen: LumenMask | None = None
    stents: list[MetalObject] = field(default_factory=list)


def _split(ijk: NDArray[Any], hu: NDArray[Any]) -> list[tuple[NDArray[Any], NDArray[Any]]]:
    """Split a voxel set into 26-connected parts (on its bounding-box crop)."""
    if len(ijk) == 0:
        return []
    lo = ijk.min(axis=0)
    local = (ijk - lo).astype(np.intp)
    grid = np.zeros(tuple(int(s) for s in local.max(axis=0) + 1), dtype=bool)
    grid[local[:, 0], local[:, 1], local[:, 2]] = True
    labels, n = cc3d.connected_components(grid, connectivity=26, return_N=True)
    if n == 1:
        return [(ijk, hu)]
    lab = labels[local[:, 0], local[:, 1], local[:, 2]]
    order = np.argsort(lab, kind="stable")
    bounds = np.cumsum(np.bincount(lab, minlength=n + 1))
    return [
        (ijk[order[bounds[c - 1] : bounds[c]]], hu[order[bounds[c - 1] : bounds[c]]])
        for c in range(1, n + 1)
    ]


def _size_per_component(
    lab: NDArray[Any], k: NDArray[Any], n: int, n_slices: int,
    spacing: tuple[float, float, float], thin: bool,
) -> NDArray[np.float64]:
    """Per component, volume (mm^3) or, in a thin stack, largest in-plane area (mm^2)."""
    if not thin:
        volume = float(spacing[0] * spacing[1] * spacing[2])
        return np.asarray(np.bincount(lab, minlength=n + 1), dtype=np.float64) * volume
    per_slice = np.bincount(lab * n_slices + k, minlength=(n + 1) * n_slices)
    area = per_slice.reshape(n + 1, n_slices).max(axis=1).astype(np.float64)
    return np.asarray(area * (spacing[0] * spacing[1]), dtype=np.float64)


def _in_enhancing_tissue(
    groups: list[NDArray[Any]], peaks: list[float], hu: NDArray[Any], tissue_hu: float,
    delta_hu: float,
) -> NDArray[np.bool_]:
    """Which faint components are specks of enhancing parenchyma (contrast studies).

    A component (full-grid voxels ``groups[g]``, peak HU ``peaks[g]``) is one when
    the median HU of the 2-voxel in-plane shell around it is at least `tissue_hu`
    (enhanced spleen, liver, kidney, bowel wall; unenhanced soft tissue is below
    ~80 HU) and its peak is less than `delta_hu` above that shell: noise of an organ
    near the threshold, not a deposit denser than it.
    """
    around = shell_median_hu(groups, hu)
    with np.errstate(invalid="ignore"):
        return np.asarray((around >= tissue_hu) & (np.asarray(peaks) < around + delta_hu))


def _clear_local_background(
    pieces: list[tuple[NDArray[Any], NDArray[Any], str]], hu: NDArray[Any],
    threshold_hu: float, margin_hu: float, air_hu: float | None = None,
) -> list[bool]:
    """Per lesion, whether it peaks `margin_hu` above its local background.

    The background is the median of the in-plane shell below `threshold_hu`
    (:func:`calcdx.lesions.noise.local_background_hu`) and, with `air_hu`, above
    it: air and lung beyond a tissue's edge are not the tissue a deposit lies in.
    A lesion without one passes.
    """
    background = shell_median_hu([p[0] for p in pieces], hu, below_hu=threshold_hu,
                                 above_hu=air_hu)
    return [bool(np.isnan(b) or float(p[1].max()) >= b + margin_hu)
            for p, b in zip(pieces, background, strict=True)]


def _without_injected_veins(
    pieces: list[tuple[NDArray[Any], NDArray[Any], str]], spacing: tuple[float, float, float],
    shape: tuple[int, ...], blood_pool_hu: float | None, params: AnalysisParameters,
    anatomy: AnatomyLabels | None = None,
) -> tuple[list[tuple[NDArray[Any], NDArray[Any], str]], int, float]:
    """Soft-tissue pieces of an enhanced study less the injected veins among them.

    With `anatomy`, a piece lying mostly in a labelled structure that is not a vein
    (costal cartilage, an organ, an artery) is that structure's and never judged.
    Returns the pieces kept, how many were injected veins and their volume (mm^3).
    """
    vv = float(np.prod(spacing))

    def vein(p: tuple[NDArray[Any], NDArray[Any], str]) -> bool:
        if anatomy is not None:
            cls = anatomy.at(p[0])
            other = np.asarray([c != 0 and anatomy.structure(int(c)).kind != "vein"
                                for c in cls], dtype=bool)
            if other.mean() >= 0.5:
                return False
        return p[2] == "soft_tissue" and injected_vein(
            p[0], p[1], spacing, shape, blood_pool_hu=blood_pool_hu,
            config=params.injected_vein).injected

    # each piece judged on its own: half of them on a second core (calcdx._threads)
    veins = map_split(vein, pieces)
    kept = [p for p, v in zip(pieces, veins, strict=True) if not v]
    volume = 0.0
    for p, v in zip(pieces, veins, strict=True):
        if v:
            volume += len(p[0]) * vv
    return kept, int(sum(veins)), volume


def _pool_lumen(
    hu: NDArray[Any], spacing: tuple[float, float, float], phase: ContrastPhase,
    labels: NDArray[Any], boxes: ComponentBoxes, params: AnalysisParameters,
) -> LumenMask | None:
    """The enhanced lumens continuous with the blood pool's tubes (calcdx.masks.lumen).

    Seeded by the blood pool and by every other tube found beside it that is enhanced
    and within the lumen window of the pool (a lumen of the same phase: the pulmonary
    trunk beside the aorta), each with its own density, and looked for on the bounding
    box of the mineral components that hold the seeds only.
    """
    pool = phase.blood_pool
    if not phase.enhanced or pool is None or not pool.track_voxel:
        return None
    window = params.lumen.window_hu
    tubes = [pool] + [t for t in phase.tubes if t != pool and t.track_voxel
                      and t.median_hu >= params.contrast.enhanced_blood_hu
                      and abs(t.median_hu - pool.median_hu) <= window]
    shape = np.asarray(hu.shape)
    found: list[tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.bool_], NDArray[np.bool_],
                      float]] = []
    for tube in tubes:
        seeds = np.clip(np.rint(np.asarray(tube.track_voxel)).astype(np.intp), 0, shape - 1)
        comps = np.unique(labels[seeds[:, 0], seeds[:, 1], seeds[:, 2]])
        comps = comps[(comps > 0) & (boxes.counts[comps] > 0)]
        if not len(comps):
            continue
        lo = boxes.lo[comps].min(axis=0)
        hi = boxes.hi[comps].max(axis=0)
        box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        crop = np.asarray(hu[box])
        blood = blood_pool_lumen(crop, spacing, seeds - lo, tube.median_hu, tube.robust_sd_hu,
                                 config=params.lumen, with_wall=False)
        if blood.any():
            blood |= mixing_blood(crop, blood, spacing, tube.median_hu, tube.robust_sd_hu,
                                  within=labels[box] > 0, config=params.lumen)
            wall = partial_volume_wall(crop, blood, spacing, tube.median_hu,
                                       config=params.lumen)
            found.append((lo, hi, blood, wall, tube.median_hu))
    if not found:
        return None
    lo = np.min([f[0] for f in found], axis=0)
    hi = np.max([f[1] for f in found], axis=0)
    shape_box = tuple(int(b - a) for a, b in zip(lo, hi, strict=True))
    which = np.zeros(shape_box, dtype=np.uint8)
    bloods = np.zeros(shape_box, dtype=bool)
    for index, (a, b, blood, wall, _) in enumerate(found, start=1):
        at = tuple(slice(int(x - o), int(y - o)) for x, y, o in zip(a, b, lo, strict=True))
        view = which[at]
        view[(blood | wall) & (view == 0)] = index  # the first tube (the pool) keeps its own
        bloods[at] |= blood
    return LumenMask(offset=(int(lo[0]), int(lo[1]), int(lo[2])), mask=which > 0,
                     median_hu=pool.median_hu, tube=which,
                     tube_median_hu=tuple(f[4] for f in found), blood=bloods)


def _wall_plaque_of_lumen(piece: tuple[NDArray[Any], NDArray[Any], str], lumen: LumenMask,
                          shape: tuple[int, ...], params: AnalysisParameters,
                          hu: NDArray[Any] | None = None, noise_sd_hu: float = 0.0,
                          spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> bool:
    """Whether a deposit left by the lumen carved out of bone may be reported.

    Not when it lies at least ``immersed_fraction`` inside the lumen (blood, not wall),
    nor when it touches the lumen and peaks less than ``window_hu`` above the median of
    the tube it touches (the plaque rule: fainter mineral is the lumen's own). With `hu`,
    one touching the lumen must also stand above the blood beside it
    (:func:`_above_local_blood`).
    """
    contact = lumen_contact(piece[0], lumen, shape)
    if contact.fraction >= params.lumen.immersed_fraction:
        return False
    if contact.median_hu is None:
        return True
    if float(piece[1].max()) < contact.median_hu + params.lumen.window_hu:
        return False
    return hu is None or _above_local_blood(piece, lumen, hu, params, noise_sd_hu, spacing)


def _above_local_blood(piece: tuple[NDArray[Any], NDArray[Any], str], lumen: LumenMask,
                       hu: NDArray[Any], params: AnalysisParameters, noise_sd_hu: float,
                       spacing: tuple[float, float, float]) -> bool:
    """Whether a candidate beside the lumen's blood peaks clear of that blood.

    The noise rule (:mod:`calcdx.lesions.noise`, Rose's ``noise_k`` SDs) with the blood
    of its in-plane shell as background (:func:`calcdx.masks.lumen.local_blood`) and the
    larger of the image noise and that blood's own spread as the SD: in a chamber of
    mixing or streaked contrast the blood varies by more than the noise, and a speck of
    it is not a deposit. A shell with fewer than ``local_blood_min_voxels`` blood voxels
    is no background; the candidate passes. The shell reaches ``neck_mm`` and one voxel
    beyond the candidate: the lumen's partial-volume wall is grown ``neck_mm`` from its
    blood (calcdx.masks.lumen), so a deposit on the wall has its blood that far off.
    """
    width = max(1, round(params.lumen.neck_mm / min(spacing[0], spacing[1]))) + 1
    blood = local_blood(piece[0], lumen, hu, width_vox=width)
    if blood.n_voxels < params.lumen.local_blood_min_voxels:
        return True
    sd = max(noise_sd_hu, blood.robust_sd_hu)
    return float(piece[1].max()) >= blood.median_hu + params.noise_k * sd


_P = tuple[NDArray[Any], NDArray[Any], str]


def _noise_rule(
    pieces: list[_P], hu: NDArray[Any], sigma: NoiseEstimate | None,
    params: AnalysisParameters, spacing: tuple[float, float, float], *, min_vox: float,
    local: bool,
) -> tuple[list[_P], int, bool]:
    """The noise rule of :mod:`calcdx.lesions.noise` on the lesion candidates.

    Returns the kept lesions (a candidate may be split into several), how many
    candidates it rejected whole (none of their voxels kept; a split candidate is
    not counted), and whether the image was noisy (tissue + ``noise_k`` SDs above
    the threshold: the smoothed core and the local background then apply). With
    `local` (a contrast study) the local background applies whatever the noise.
    Candidates below `min_vox` voxels are not lesions.
    """
    if sigma is None:
        return pieces, 0, False
    rose_hu = sigma.tissue_hu + params.noise_k * sigma.sd_hu
    noisy = rose_hu > params.threshold_hu
    parent = [i for i, p in enumerate(pieces) if float(p[1].max()) >= rose_hu]
    kept = [pieces[i] for i in parent]
    if noisy:
        # Noisy image (sharp kernel, low dose): the candidate must hold mineral once
        # smoothed over the noise grain (calcdx.lesions.noise); detection only.
        cores = smoothed_core([p[0] for p in kept], hu, level_hu=params.threshold_hu,
                              smoothing_mm=params.noise_smoothing_mm, spacing_mm=spacing)
        split = [(i, (c_ijk, c_hu, p[2])) for i, p, core in zip(parent, kept, cores, strict=True)
                 if core.any() for c_ijk, c_hu in _split(p[0][core], p[1][core])
                 if len(c_ijk) >= min_vox - 1e-9]
        parent, kept = [i for i, _ in split], [p for _, p in split]
    if local or noisy:
        # The criterion's background is the tissue around the lesion
        # (calcdx.lesions.noise), enhanced organs included, and in a noisy image
        # (native too) the dense tissue a speckle network grows in (costal cartilage).
        # Shell voxels under the Rose level are tissue and its noise (under the
        # threshold only, the median of a dense tissue's shell is biased low).
        clear = _clear_local_background(kept, hu, max(params.threshold_hu, rose_hu),
                                        params.noise_k * sigma.sd_hu, params.air_hu)
        parent = [i for i, ok in zip(parent, clear, strict=True) if ok]
        kept = [p for p, ok in zip(kept, clear, strict=True) if ok]
    return kept, len(pieces) - len(set(parent)), noisy


def _boxes(ijk: NDArray[np.int32], hu_v: NDArray[Any], order: NDArray[np.intp],
           counts: NDArray[np.int64], keep: NDArray[np.bool_]) -> ComponentBoxes:
    """Voxel counts, bounding boxes and HU of components 0..n from their voxels.

    `ijk` are the voxels and `hu_v` their HU, `order` sorts them by component
    (`counts` per component, none in 0); components outside `keep` count 0 voxels.
    """
    n = len(counts) - 1
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])  # component c's first voxel
    lo = np.zeros((n + 1, 3), dtype=np.int64)
    hi = np.zeros((n + 1, 3), dtype=np.int64)
    if n:
        grouped = ijk[order]
        lo[1:] = np.minimum.reduceat(grouped, start[1:], axis=0)
        hi[1:] = np.maximum.reduceat(grouped, start[1:], axis=0) + 1
    return ComponentBoxes(np.where(keep, counts, 0), lo, hi, hu=hu_v[order], start=start)


def _metal_streaks(hu: NDArray[Any], spacing: tuple[float, float, float],
                   ijk: NDArray[np.int32], is_metal: NDArray[np.bool_],
                   in_zone: NDArray[np.bool_], params: AnalysisParameters
                   ) -> NDArray[np.bool_]:
    """Which candidate voxels are bright metal streaks (:mod:`calcdx.masks.metal`).

    Only voxels in the metal's streak zone (`in_zone`), not metal themselves, are judged.
    """
    out = np.zeros(len(ijk), dtype=bool)
    judge = np.flatnonzero(in_zone & ~is_metal)
    if len(judge):
        out[judge] = metal_streaks(hu, spacing, ijk[judge], ijk[is_metal],
                                   radius_mm=params.metal_streak_radius_mm,
                                   config=params.streaks)
    return out


def _metal_stents(ijk: NDArray[np.int32], hu_v: NDArray[Any], is_metal: NDArray[np.bool_],
                  affine: NDArray[np.float64], spacing: tuple[float, float, float],
                  params: AnalysisParameters) -> tuple[NDArray[np.bool_], list[MetalObject]]:
    """Stents whose struts reach the metal threshold (thick stainless-steel wire).

    Such a stent is a lattice of metal fragments (:func:`calcdx.masks.metal.find_stents`
    on the metal's 26-connected parts). It is reported as one stent, not as metal: its
    thin wire gives little streak, so it gets the blooming margin (``metal_margin_mm``)
    but no streak zone, and wall calcification round and inside it is still assessed.

    Returns
    -------
    ((N,) bool ndarray, list of MetalObject)
        Candidate voxels that are such struts or within the margin of them; the stents.
    """
    out = np.zeros(len(ijk), dtype=bool)
    at = np.flatnonzero(is_metal)
    if len(at) == 0:
        return out, []
    parts = _split(ijk[at], at)
    drop, stents = find_stents([(p_ijk, hu_v[p_idx]) for p_ijk, p_idx in parts], affine,
                               config=params.stent)
    if not stents:
        return out, []
    struts = np.concatenate([p_idx[d] for (_, p_idx), d in zip(parts, drop, strict=True)])
    return near_struts(ijk, ijk[struts], spacing, params.metal_margin_mm), stents


def _drop_streaks(labels: NDArray[Any], ijk: NDArray[np.int32], lab_v: NDArray[np.int64],
                  streak_v: NDArray[np.bool_], n: int) -> tuple[NDArray[Any], int]:
    """Take streak voxels out of the mineral's components (`labels` and `lab_v` in place).

    Streak voxels get label 0; a component they split is relabelled 26-connected,
    its first part keeping its label and the others new ones after `n`. The
    skeleton is then built from the mineral without the streaks, which would
    otherwise join a bone's component and be sealed and filled with it.

    Returns
    -------
    (labels, n)
        The labels (a wider copy when the new labels do not fit their type) and
        the new number of components.
    """
    hit = np.unique(lab_v[streak_v])
    labels[ijk[streak_v, 0], ijk[streak_v, 1], ijk[streak_v, 2]] = 0
    lab_v[streak_v] = 0
    parts: list[NDArray[np.intp]] = []
    touched = np.flatnonzero(np.isin(lab_v, hit[hit > 0]))
    order = touched[np.argsort(lab_v[touched], kind="stable")]
    cuts = np.flatnonzero(np.diff(lab_v[order])) + 1
    for at in np.split(order, cuts) if len(order) else []:
        parts += [p_idx for _, p_idx in _split(ijk[at], at)[1:]]
    if not parts:
        return labels, n
    if n + len(parts) > np.iinfo(labels.dtype).max:
        labels = labels.astype(np.uint32)
    for new, p_idx in enumerate(parts, start=n + 1):
        lab_v[p_idx] = new
        labels[ijk[p_idx, 0], ijk[p_idx, 1], ijk[p_idx, 2]] = new
    return labels, n + len(parts)


def _drop_stents(pieces: list[tuple[NDArray[Any], NDArray[Any], str]], affine: NDArray[np.float64],
                 params: AnalysisParameters, summary: dict[str, float]
                 ) -> tuple[list[tuple[NDArray[Any], NDArray[Any], str]], list[MetalObject]]:
    """Candidate lesions without a stent's struts and their blooming (:mod:`calcdx.masks.metal`).

    What remains of a candidate (wall calcification beside or beyond the struts) is
    split 26-connected and kept.
    """
    drop, stents = find_stents([(p[0], p[1]) for p in pieces], affine, config=params.stent)
    if not stents:
        return pieces, []
    out: list[tuple[NDArray[Any], NDArray[Any], str]] = []
    for p, d in zip(pieces, drop, strict=True):
        if not d.any():
            out.append(p)
        elif not d.all():
            out += [(q_ijk, q_hu, p[2]) for q_ijk, q_hu in _split(p[0][~d], p[1][~d])]
    summary["stents"] = float(len(stents))
    summary["stent_excluded_voxels"] = float(sum(int(d.sum()) for d in drop))
    return out, stents


def _costal_site(body: BodyMask, affine: NDArray[np.float64], params: AnalysisParameters
                 ) -> CartilageSite:
    """Where the skeleton's calcified costal cartilage may lie (calcdx.masks.ribcart).

    The trunk's anterior outer shell, with the bounds of the costal-cartilage calls
    (:class:`calcdx.measure.costal.CostalConfig`).
    """
    return cartilage_site(body, affine, min_anterior_fraction=params.costal.min_anterior_fraction,
                          max_depth_fraction=params.costal.max_wall_depth_fraction)


def detect_lesions(
    hu: NDArray[Any],
    affine: NDArray[np.float64],
    params: AnalysisParameters,
    progress: Progress | None = None,
    metadata: Mapping[str, Any] | None = None,
    anatomy: AnatomyLabels | None = None,
    beside: Callable[[], Any] | None = None,
) -> Detection:
    """Find soft-tissue mineral deposits.

    Parameters
    ----------
    hu : (I, J, K) ndarray of int16 or float
        CT in HU; axis 2 is the slice axis.
    affine : (4, 4) ndarray
        Voxel-to-RAS+ affine in mm.
    params : AnalysisParameters
        Thresholds and sizes (see :class:`calcdx.analysis.AnalysisParameters`).
    progress : callable, optional
        Called as ``progress(step, fraction)``.
    metadata : mapping, optional
        The volume's metadata; ``contrast_agent`` / ``contrast_route`` (from the
        DICOM header) are evidence of a contrast-enhanced study.
    anatomy : AnatomyLabels, optional
        TotalSegmentator's labels on this grid (:mod:`calcdx.anatomy`): its bone
        classes grown by one voxel are skeleton (with the image's own cortex where
        a candidate component lies mostly in them), and in an enhanced study its
        vessels and organs exclude their lumen and parenchyma.
    beside : callable, optional
        A step of the caller's that reads only what it is given (the body region):
        run on the second core after the contrast phase, done before this returns
        (calcdx._threads).

    Returns
    -------
    Detection
    """

    def report(step: str, fraction: float) -> None:
        if progress is not None:
            progress(step, fraction)

    shape = hu.shape
    norms = np.linalg.norm(affine[:3, :3], axis=0)
    spacing = (float(norms[0]), float(norms[1]), float(norms[2]))
    vv = float(abs(np.linalg.det(affine[:3, :3])))
    summary: dict[str, float] = {}

    report("body mask", 0.05)
    body = compute_body(
        hu, spacing, air_hu=params.air_hu, table_gap_mm=params.table_gap_mm,
        target_mm=params.coarse_grid_mm,
    )
    meta = metadata or {}
    # The contrast phase reads only the HU and the body: measured on a second core
    # while the mineral is labelled, its components' boxes and the noise found
    # (calcdx._threads); the caller's step `beside` next on that core.
    phase_job = submit(lambda: contrast_phase(hu, spacing, body.grid.upsample(body.coarse),
                                              config=params.contrast, header=meta))
    beside_job = submit(beside) if beside is not None else None
    report("candidate mineral", 0.15)
    candidate: NDArray[np.bool_] = np.asarray(hu >= params.threshold_hu)
    labels, n = cc3d.connected_components(candidate, connectivity=26, return_N=True)
    flat = np.flatnonzero(candidate)
    del candidate
    lab_v = labels.ravel()[flat].astype(np.int64)
    hu_v = hu.ravel()[flat]
    plane = shape[1] * shape[2]
    ijk = np.empty((len(flat), 3), dtype=np.int32)
    ijk[:, 0] = flat // plane
    rem = flat % plane
    ijk[:, 1] = rem // shape[2]
    ijk[:, 2] = rem % shape[2]
    del flat, rem
    counts = np.bincount(lab_v, minlength=n + 1)
    summary["candidate_components"] = float(n)

    # Body: a component counts when any voxel is inside the body.
    inside = body.contains(ijk)
    in_body = np.bincount(lab_v, weights=inside, minlength=n + 1) > 0
    in_body[0] = False
    summary["outside_body_components"] = float(np.count_nonzero(~in_body[1:]))

    report("metal", 0.25)
    is_metal = hu_v >= params.metal_hu
    phase = phase_job.result()
    if phase.enhanced and is_metal.any():
        # undiluted contrast as dense as metal, in the lumen it fills (calcdx.masks.injected)
        at = np.flatnonzero(is_metal)
        iodine = dense_contrast(hu, ijk[at], spacing, params.metal_hu,
                                config=params.dense_contrast)
        is_metal[at[iodine]] = False
        summary["dense_contrast_volume_mm3"] = float(iodine.sum()) * vv
    drop_v, metal_stents = _metal_stents(ijk, hu_v, is_metal, affine, spacing, params)
    metal = find_metal(
        ijk[is_metal & ~drop_v], hu_v[is_metal & ~drop_v], affine, vv,
        margin_mm=params.metal_margin_mm, streak_radius_mm=params.metal_streak_radius_mm,
    )
    stent_v = drop_v.copy()
    streak_v = np.zeros(len(lab_v), dtype=bool)
    cavity = None
    if metal_stents:
        summary["metal_stent_excluded_volume_mm3"] = float(stent_v.sum()) * vv
    if metal.objects:
        zone_v = metal.suppressed(ijk, affine)
        summary["metal_suppressed_volume_mm3"] = float(zone_v.sum()) * vv
        streak_v = _metal_streaks(hu, spacing, ijk, is_metal & ~stent_v, zone_v, params)
        summary["metal_streak_volume_mm3"] = float(streak_v.sum()) * vv
        drop_v = zone_v | stent_v | streak_v
        cavity = implant_cavities(hu, ijk[is_metal & ~stent_v],
                                  mineral_hu=params.bone.mineral_hu)
        if streak_v.any():
            labels, n = _drop_streaks(labels, ijk, lab_v, streak_v, n)
            counts = np.bincount(lab_v, minlength=n + 1)
            in_body = np.bincount(lab_v, weights=inside, minlength=n + 1) > 0
            in_body[0] = False

    order: NDArray[Any] = np.argsort(lab_v, kind="stable")
    bounds = np.cumsum(counts)  # voxels of component c: order[bounds[c-1]:bounds[c]]
    sigma = noise_sd_hu(hu)
    boxes = _boxes(ijk, hu_v, order, counts, in_body)

    report("contrast phase", 0.3)
    agent = meta.get("contrast_agent") or meta.get("contrast_route")
    if anatomy is not None:
        lumen_v = anatomy.lumen_exclusion(ijk, hu_v, hu, enhanced=phase.enhanced,
                                          plaque_delta_hu=params.plaque_delta_hu)
        summary["anatomy_lumen_excluded_volume_mm3"] = float(lumen_v.sum()) * vv
        drop_v = drop_v | lumen_v

    report("skeleton", 0.35)
    thin = shape[2] * spacing[2] < params.thin_stack_mm
    # Skeleton from the mineral inside the body only (the table is never bone).
    body_labels = labels
    if not in_body[1:].all():
        out_v = ~in_body[lab_v]  # voxels of components outside the body, set to 0 in place
        labels[ijk[out_v, 0], ijk[out_v, 1], ijk[out_v, 2]] = 0
        del out_v
    pool_lumen = _pool_lumen(hu, spacing, phase, body_labels, boxes, params)
    if pool_lumen is not None:
        summary["blood_pool_lumen_volume_mm3"] = float(np.count_nonzero(pool_lumen.mask)) * vv
    bone = bone_mask(hu, spacing, config=params.bone, mineral_labels=body_labels,
                     mineral_boxes=boxes, noise_sd_hu=None if sigma is None else sigma.sd_hu,
                     enhanced=phase.enhanced, blood_lumen=pool_lumen,
                     cartilage_site=_costal_site(body, affine, params),
                     implant_cavity=cavity)
    del labels, body_labels
    is_bone_comp = np.zeros(n + 1, dtype=bool)
    is_bone_comp[list(bone.component_ids)] = True
    in_excl_v = bone.in_exclusion(ijk)
    deposit_v = bone.in_deposit(ijk) & is_bone_comp[lab_v]
    in_excl_v &= ~deposit_v
    in_bone_v = bone.in_bone(ijk)
    frac_in_bone = np.bincount(lab_v, weights=in_bone_v, minlength=n + 1) / np.maximum(counts, 1)
    inside_bone_comp = (frac_in_bone >= 0.5) & ~is_bone_comp
    if anatomy is not None:
        # TotalSegmentator's bone (grown one voxel) is the skeleton; a component lying
        # mostly in it is bone, the image's own cortex around it included, and keeps as
        # deposits only its voxels outside both; other components are never bone.
        grown = anatomy.bone_grown()
        ts_v = grown[ijk[:, 0], ijk[:, 1], ijk[:, 2]]
        ts_comp = np.bincount(lab_v, weights=ts_v, minlength=n + 1) / np.maximum(counts, 1) >= 0.5
        ts_comp[0] = False
        img_excl_v = in_excl_v & is_bone_comp[lab_v]
        in_excl_v = ts_v | (img_excl_v & ts_comp[lab_v])
        deposit_v = ts_comp[lab_v] & ~in_excl_v
        is_bone_comp = ts_comp
        inside_bone_comp = np.zeros(n + 1, dtype=bool)
        summary["anatomy_bone_components"] = float(np.count_nonzero(ts_comp))
    else:
        grown = None
    residual: list[tuple[NDArray[Any], NDArray[Any]]] = []
    if deposit_v.any():
        residual = [(p_ijk, hu_v[p_idx]) for p_ijk, p_idx in
                    _split(ijk[deposit_v & ~drop_v], np.flatnonzero(deposit_v & ~drop_v))]
    summary["skeleton_components"] = float(
        len(bone.component_ids) if anatomy is None else np.count_nonzero(is_bone_comp))
    summary["skeleton_volume_mm3"] = bone.volume_mm3
    summary["inside_bone_components"] = float(np.count_nonzero(inside_bone_comp[1:]))
    keep_v = ~drop_v & ~in_excl_v & in_body[lab_v] & ~inside_bone_comp[lab_v]

    report("contrast", 0.45)
    plain = in_body & ~is_bone_comp & ~inside_bone_comp
    plain[0] = False
    size = _size_per_component(lab_v, ijk[:, 2], n, shape[2], spacing, thin)
    min_primary, min_small = (
        (params.contrast_min_area_mm2, params.contrast_small_min_area_mm2) if thin
        else (params.contrast_min_volume_mm3, params.contrast_small_min_volume_mm3)
    )
    big = np.flatnonzero(plain & (size >= min_small))
    densities = []
    for c in big:
        sel = order[bounds[c - 1] : bounds[c]]
        sel = sel[keep_v[sel]]
        if len(sel):
            densities.append(density_summary(int(c), hu_v[sel], vv, params.plaque_delta_hu,
                                             size=float(size[c])))
    contrast, regions = assess_contrast(
        densities, min_volume_mm3=min_primary, small_min_volume_mm3=min_small,
        hu_range=(params.contrast_min_hu, params.contrast_max_hu),
        max_sd_hu=params.contrast_max_sd_hu, plaque_delta_hu=params.plaque_delta_hu,
        header_agent=str(agent) if agent else None, size_unit="mm^2" if thin else "mm^3",
        phase=phase,
    )
    region_of = {r.component: r for r in regions}

    report("lesions", 0.55)
    pieces: list[tuple[NDArray[Any], NDArray[Any], str]] = []
    reportable = params.min_volume_mm3 / vv - 1e-9  # fewer voxels are dropped below
    plain_sel: list[NDArray[np.intp]] = []
    # Only components with kept voxels that are enhancing regions or large enough to
    # report are looked at one by one (most candidate components are noise specks).
    n_kept = np.bincount(lab_v, weights=keep_v, minlength=n + 1)
    is_region = np.zeros(n + 1, dtype=bool)
    is_region[list(region_of)] = True
    for c in np.flatnonzero(plain & (n_kept > 0) & (is_region | (n_kept >= reportable))):
        whole = order[bounds[c - 1] : bounds[c]]
        sel = whole[keep_v[whole]]
        if len(sel) == 0:
            continue
        if int(c) in region_of:
            plaque = hu_v[sel] >= region_of[int(c)].plaque_threshold_hu
            for p_ijk, p_hu in _split(ijk[sel][plaque], hu_v[sel][plaque]):
                pieces.append((p_ijk, p_hu, "vessel_wall_plaque"))
        elif len(sel) >= reportable:
            plain_sel.append(sel)
    parenchyma = (
        _in_enhancing_tissue([ijk[sel] for sel in plain_sel],
                             [float(hu_v[sel].max()) for sel in plain_sel], hu,
                             params.enhancing_tissue_hu, params.plaque_delta_hu)
        if contrast.enhanced else np.zeros(len(plain_sel), dtype=bool)
    )
    n_parenchyma = int(np.count_nonzero(parenchyma))
    for sel, speck in zip(plain_sel, parenchyma, strict=True):
        if not speck:
            pieces.append((ijk[sel], hu_v[sel], "soft_tissue"))
    for part in residual:
        pieces.append((part[0], part[1], "bone_adjacent"))
    summary["enhancing_parenchyma_components"] = float(n_parenchyma)
    min_vox = params.min_volume_mm3 / vv
    pieces, stents = _drop_stents(pieces, affine, params, summary)
    stents = metal_stents + stents
    if stents:
        summary["stents"] = float(len(stents))
    pieces = [p for p in pieces if len(p[0]) >= min_vox - 1e-9]
    if contrast.enhanced and pool_lumen is not None:
        # Density spikes inside the blood pool's lumen, not on its wall (calcdx.masks.lumen),
        # left by the lumen carved out of a skeleton component; a component of its own
        # lying in an enhancing region is judged by that region's plaque threshold
        n_before_lumen = len(pieces)
        noise = 0.0 if sigma is None else float(sigma.sd_hu)
        lumen = pool_lumen
        # each piece judged on its own: half of them on a second core (calcdx._threads)
        keep = map_split(
            lambda p: (_wall_plaque_of_lumen(p, lumen, shape, params, hu, noise, spacing)
                       if p[2] == "bone_adjacent"
                       else _above_local_blood(p, lumen, hu, params, noise, spacing)),
            pieces)
        pieces = [p for p, k in zip(pieces, keep, strict=True) if k]
        summary["inside_lumen_components"] = float(n_before_lumen - len(pieces))
    if contrast.enhanced:
        # Undiluted contrast in the vein it was injected through (calcdx.masks.injected)
        pieces, n_veins, vein_mm3 = _without_injected_veins(
            pieces, spacing, shape,
            phase.blood_pool.median_hu if phase.blood_pool is not None else None, params,
            anatomy)
        summary["injected_vein_components"] = float(n_veins)
        summary["injected_vein_volume_mm3"] = vein_mm3
    pieces, n_noise, noisy = _noise_rule(pieces, hu, sigma, params, spacing,
                                         min_vox=min_vox, local=contrast.enhanced)
    summary["noise_rejected_components"] = float(n_noise)
    if noisy:
        summary["noise_smoothed_detection"] = 1.0
    if contrast.enhanced and sigma is not None:
        # The floor stands on the blood pool being an enhanced lumen in view: only when
        # enhancing regions were found (and suppressed) beside the tube. A dense round
        # deposit taken for the aorta, with no enhancing region anywhere, must not
        # remove every fainter lesion.
        floor = blood_pool_floor_hu(
            phase.blood_pool.median_hu
            if phase.blood_pool is not None and contrast.n_regions > 0 else None,
            sigma.sd_hu, k=params.noise_k)
        if floor is not None:
            n_faint = len(pieces)
            pieces = above_blood_pool(pieces, floor, spacing, params.cluster_distance_mm)
            summary["below_blood_pool_components"] = float(n_faint - len(pieces))
            summary["blood_pool_floor_hu"] = floor
    summary["noise_sd_hu"] = float(sigma.sd_hu) if sigma is not None else float("nan")
    pieces.sort(key=lambda p: (-len(p[0]), *(int(v) for v in p[0].min(axis=0))))

    dtype: type[np.unsignedinteger[Any]] = (
        np.uint8 if len(pieces) <= 255 else np.uint16 if len(pieces) <= 65535 else np.uint32
    )
    # Fortran order, as NIfTI stores it: writing lesions.nii.gz then needs no strided copy.
    label_map = np.zeros(shape, dtype=dtype, order="F")
    lesions = []
    offsets = np.array(
        [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.int32
    )
    for lid, (p_ijk, p_hu, origin) in enumerate(pieces, start=1):
        label_map[p_ijk[:, 0], p_ijk[:, 1], p_ijk[:, 2]] = lid
        touches = origin == "bone_adjacent"
        if not touches and grown is not None:
            shifted = np.clip((p_ijk[None, :, :] + offsets[:, None, :]).reshape(-1, 3), 0,
                              np.asarray(shape) - 1)
            touches = bool(grown[shifted[:, 0], shifted[:, 1], shifted[:, 2]].any())
        elif not touches and bone.component_ids:
            shifted = (p_ijk[None, :, :] + offsets[:, None, :]).reshape(-1, 3)
            touches = bool(bone.in_exclusion(shifted).any())
        lesions.append(
            LesionVoxels(
                id=lid, ijk=p_ijk.astype(np.int32), hu=p_hu.astype(np.float32), origin=origin,
                touches_bone=touches,
            )
        )
    summary["lesions"] = float(len(lesions))
    if beside_job is not None:
        beside_job.result()
    return Detection(
        label_map=label_map, lesions=lesions, body=body, bone=bone, metal=metal,
        contrast=contrast, contrast_regions=regions, summary=summary, stents=stents,
        blood_pool_lumen=pool_lumen,
    )
