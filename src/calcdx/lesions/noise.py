"""Image noise, and the rule that keeps noise from making lesions.

Noise rule
----------
A lesion must hold a voxel at least ``k`` noise SDs above the soft tissue
(``tissue_hu + k * sd_hu``, default ``k = 5``) as well as at or above the
mineral threshold. Five SDs is the Rose criterion (Rose A., J Opt Soc Am
1948;38:196-208): a signal 5 noise SDs above its background is seen with few
false alarms. In routine CT (SD about 10 HU) the rule asks about 100 HU and so
never binds; in low-dose CT with SD 25-30 HU it asks 175-200 HU, while a white-noise
voxel of 40 HU tissue reaches that with probability under 3e-7.

In a contrast-enhanced study the tissue level varies from organ to organ
(unenhanced muscle about 50 HU, portal-venous liver 90-110 HU, myocardium and
renal cortex more), so the background of the criterion is local there: the
median HU of the lesion's in-plane shell (2 voxels wide) over the voxels below
the mineral threshold (:func:`local_background_hu`) and above air (the body
mask's ``air_hu``, -400 HU: air and lung beyond an organ's edge are not the
tissue a deposit lies in). A speck of enhancing
liver that just crosses 130 HU is noise of that organ, not a deposit. In
native studies of routine noise the global tissue level is kept, as
calcium-scoring tools use one threshold for the whole scan; in a noisy native
image (the Rose level ``tissue_hu + k * sd_hu`` above the mineral threshold,
below) the background is local too: dense tissue just under 130 HU (costal
cartilage at 110-125 HU, a phantom's plastic) crosses the threshold in
speckle that clears the global level but not its own tissue's. The shell's
voxels counted there are those under the Rose level, not only those under the
threshold: tissue and its noise, whose median under the threshold alone would
be biased low by the speckle taken out of it. Measured on the
real native abdomen at 3 mm with white noise of SD 25 HU added (the image's
own SD then about 30 HU): 14 lesions with the global level, 10 of them
speckle of 1-31 voxels (6 on costal cartilage); 7 with the local one, the
three kidney stones and the aortic calcification of the clean scan and three
specks of 1-4 voxels. No constant is set by it: the rule is Rose's, with the
background it names. On head series (native, routine noise) with the same noise
added it creates no lesion either way.

Blood is the densest soft-tissue background of a contrast study: every voxel
may lie in a vessel, and vessels narrower than the lumen masks find (a few
mm: mesenteric, splenic and intercostal branches, enhanced bowel-wall and
muscle vessels) hold blood at the blood pool's density, partial volume only
lowering it. So in an enhanced study whose blood pool was measured (the
aorta, :mod:`calcdx.masks.contrast`), a lesion must also peak ``k`` noise SDs
above that blood (:func:`blood_pool_floor_hu`): the Rose criterion with
enhanced blood as the background. Fainter mineral cannot be told from
enhanced blood, as the plaque rule of :mod:`calcdx.masks.exclusions` states
for the lumens it finds, and is not reported (``result.json`` says how many),
unless it lies within the cluster distance of a lesion that clears the floor
(:func:`above_blood_pool`): the fainter lobules and edges of one deposit.

In a noisy image the single-voxel criterion is not enough: where the Rose level
``tissue_hu + k * sd_hu`` exceeds the mineral threshold (sharp bone or lung kernels, low
dose), tissue near 100 HU crosses 130 HU voxel by voxel, the crossings join into large
26-connected speckle networks, and among hundreds of voxels one exceeds any single-voxel
level by chance; the overshoot of a sharp kernel at a dense edge (a plastic insert
against air in the Philips head phantom of dcm_qa_ct) adds thin bright shells. Rose's
model integrates the signal over the object's area (detectability grows with contrast x
sqrt(area) / noise), so there a lesion keeps only its voxels at or next to (26-adjacent)
a core at or above the mineral threshold in the image smoothed in-plane by a Gaussian of
SD ``smoothing_mm`` (:func:`smoothed_core`, default 1 mm: the scale of Agatston's 1 mm^2
least lesion area, a matched filter for the smallest deposit calcium scoring counts),
split again into 26-connected parts. Speckle of 100 HU tissue and one-voxel overshoot
shells fall below 130 HU once smoothed and are cut away from the deposits they touched;
a real deposit keeps its core and its edge. The smoothed image decides detection only;
volumes and HU are measured on the original voxels. Images whose Rose level is within
the threshold (routine and soft-kernel CT) are untouched. The rule reads the image alone
(a NIfTI carries no kernel).

The noise SD is measured from the image: the robust SD (1.4826 x median
absolute deviation) of differences between neighbouring voxels (along axis 0)
that are both soft tissue (-100 to 100 HU), divided by sqrt(2); the tissue
level is the median of those voxels. Tissue edges add to the differences only
at their few boundary voxels, which the median ignores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from calcdx.masks._filters import box_filter

__all__ = [
    "NoiseEstimate",
    "above_blood_pool",
    "blood_pool_floor_hu",
    "local_background_hu",
    "noise_sd_hu",
    "shell_median_hu",
    "smoothed_core",
]

#: Soft-tissue HU range whose voxels measure the noise.
SOFT_TISSUE_HU = (-100.0, 100.0)


@dataclass(frozen=True)
class NoiseEstimate:
    """Image noise measured in soft tissue.

    Attributes
    ----------
    sd_hu : float
        Noise standard deviation (HU).
    tissue_hu : float
        Median HU of the soft-tissue voxels used.
    n_pairs : int
        Neighbouring voxel pairs measured.
    """

    sd_hu: float
    tissue_hu: float
    n_pairs: int


def noise_sd_hu(
    hu: NDArray[Any], *, max_slices: int = 16, min_pairs: int = 1000
) -> NoiseEstimate | None:
    """Estimate the noise SD of a CT from neighbouring soft-tissue voxels.

    Parameters
    ----------
    hu : (I, J, K) ndarray
        CT in HU.
    max_slices : int
        At most this many evenly spaced slices (axis 2) are measured.
    min_pairs : int
        Fewer soft-tissue pairs than this give no estimate.

    Returns
    -------
    NoiseEstimate or None
        None when the image holds too little soft tissue.
    """
    if hu.shape[0] < 2:
        return None
    ks = np.unique(np.linspace(0, hu.shape[2] - 1, min(max_slices, hu.shape[2])).astype(int))
    sub = np.asarray(hu[:, :, ks], dtype=np.float32)
    lo, hi = SOFT_TISSUE_HU
    tissue = (sub >= lo) & (sub <= hi)
    pair = tissue[1:] & tissue[:-1]
    if int(np.count_nonzero(pair)) < min_pairs:
        return None
    diff = (sub[1:] - sub[:-1])[pair]
    mad = float(np.median(np.abs(diff - np.median(diff))))
    return NoiseEstimate(
        sd_hu=1.4826 * mad / np.sqrt(2.0),
        tissue_hu=float(np.median(sub[tissue])),
        n_pairs=int(diff.size),
    )


def local_background_hu(
    ijk: NDArray[np.integer[Any]], hu: NDArray[Any], *, below_hu: float, width_vox: int = 2
) -> float | None:
    """Median HU of the in-plane shell around a voxel set, over voxels below a level.

    Parameters
    ----------
    ijk : (N, 3) ndarray of int
        Full-grid voxel indices of the lesion.
    hu : (I, J, K) ndarray
        CT in HU.
    below_hu : float
        Only shell voxels below this HU count (other mineral, bone or a
        neighbouring deposit is not the background).
    width_vox : int
        Shell width in voxels along axes 0 and 1.

    Returns
    -------
    float or None
        None when no shell voxel is below `below_hu`.
    """
    (median,) = shell_median_hu([ijk], hu, below_hu=below_hu, width_vox=width_vox)
    return None if np.isnan(median) else float(median)


def shell_median_hu(
    groups: list[NDArray[np.integer[Any]]], hu: NDArray[Any], *, below_hu: float | None = None,
    width_vox: int = 2, above_hu: float | None = None,
) -> NDArray[np.float64]:
    """Per voxel set, the median HU of its in-plane shell, all sets in one pass.

    The shell of a set is its ``(2 width_vox + 1)^2 x 1`` in-plane neighbourhood
    within the grid, less its own voxels; with `below_hu`, only shell voxels below
    it count, and with `above_hu` only those above it.

    Parameters
    ----------
    groups : list of (N_g, 3) ndarray of int
        Full-grid voxel indices of each set.
    hu : (I, J, K) ndarray
        CT in HU.
    below_hu : float, optional
    width_vox : int
    above_hu : float, optional

    Returns
    -------
    (len(groups),) ndarray of float64
        NaN where a set has no (counted) shell voxel.
    """
    n_groups = len(groups)
    out = np.full(n_groups, np.nan)
    if n_groups == 0:
        return out
    big = [len(g) >= _CROP_MIN_VOXELS for g in groups]
    for at in (i for i, b in enumerate(big) if b):
        out[at] = _shell_median_on_crop(np.asarray(groups[at]).reshape(-1, 3), hu, below_hu,
                                        width_vox, above_hu)
    if all(big):
        return out
    small = [i for i, b in enumerate(big) if not b]
    out[small] = _shell_median_together([groups[i] for i in small], hu, below_hu, width_vox,
                                        above_hu)
    return out


#: Sets of at least this many voxels have their shell found on their own crop (a
#: dilation), smaller ones all together by sorted neighbour keys: the same voxels.
_CROP_MIN_VOXELS = 64


def _median(values: NDArray[np.float64]) -> float:
    """Median as the mean of the two middle values of the sorted values (NaN when empty)."""
    n = len(values)
    if n == 0:
        return float("nan")
    lo, hi = (n - 1) // 2, n // 2
    part = np.partition(values, [lo, hi])
    return float((part[lo] + part[hi]) / 2.0)


def _shell_median_on_crop(vox: NDArray[np.integer[Any]], hu: NDArray[Any],
                          below_hu: float | None, width_vox: int,
                          above_hu: float | None = None) -> float:
    """:func:`shell_median_hu` of one set, on its bounding box grown in-plane by `width_vox`."""
    lo = vox.min(axis=0)
    hi = vox.max(axis=0) + 1
    lo_g = np.array([max(int(lo[0]) - width_vox, 0), max(int(lo[1]) - width_vox, 0), int(lo[2])])
    hi_g = np.array([min(int(hi[0]) + width_vox, hu.shape[0]),
                     min(int(hi[1]) + width_vox, hu.shape[1]), int(hi[2])])
    local = (vox - lo_g).astype(np.intp)
    mask = np.zeros(tuple(int(v) for v in hi_g - lo_g), dtype=bool)
    mask[local[:, 0], local[:, 1], local[:, 2]] = True
    shell = box_filter(mask, (width_vox, width_vox, 0), "max") & ~mask
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo_g, hi_g, strict=True))
    values = np.asarray(np.asarray(hu[box])[shell], dtype=np.float64)
    if below_hu is not None:
        values = values[values < below_hu]
    if above_hu is not None:
        values = values[values > above_hu]
    return _median(values)


def _shell_median_together(
    groups: list[NDArray[np.integer[Any]]], hu: NDArray[Any], below_hu: float | None,
    width_vox: int, above_hu: float | None = None,
) -> NDArray[np.float64]:
    """:func:`shell_median_hu` of small sets, all in one pass of sorted neighbour keys."""
    n_groups = len(groups)
    out = np.full(n_groups, np.nan)
    sizes = np.array([len(g) for g in groups], dtype=np.int64)
    vox = np.concatenate([np.asarray(g, dtype=np.int64).reshape(-1, 3) for g in groups])
    shape = np.asarray(hu.shape, dtype=np.int64)
    total = int(np.prod(shape))
    group = np.repeat(np.arange(n_groups, dtype=np.int64), sizes)
    own = group * total + np.ravel_multi_index(vox.T, hu.shape)
    keys = []
    for di in range(-width_vox, width_vox + 1):
        for dj in range(-width_vox, width_vox + 1):
            i, j = vox[:, 0] + di, vox[:, 1] + dj
            ok = (i >= 0) & (i < shape[0]) & (j >= 0) & (j < shape[1])
            keys.append(own[ok] + (di * shape[1] + dj) * shape[2])
    near = np.concatenate(keys)
    del keys
    near.sort()
    near = near[np.concatenate([[True], near[1:] != near[:-1]])]
    own.sort()
    pos = np.minimum(np.searchsorted(own, near), len(own) - 1)
    near = near[own[pos] != near]
    g, flat = np.divmod(near, total)
    values = np.asarray(hu.ravel()[flat] if hu.flags.c_contiguous
                        else hu[np.unravel_index(flat, hu.shape)], dtype=np.float64)
    if below_hu is not None:
        g, values = g[values < below_hu], values[values < below_hu]
    if above_hu is not None:
        g, values = g[values > above_hu], values[values > above_hu]
    if np.issubdtype(hu.dtype, np.integer) and hu.dtype.itemsize <= 2:
        # integer HU: one sort of (set, HU) packed in an int64 key orders them as the
        # lexsort below does, several times faster
        key = (g << 17) | (values.astype(np.int64) + 32768)
        key.sort()
        g, values = key >> 17, ((key & 0x1FFFF) - 32768).astype(np.float64)
        del key
    else:
        order = np.lexsort((values, g))
        g, values = g[order], values[order]
    count = np.bincount(g, minlength=n_groups)
    start = np.cumsum(count) - count
    has = count > 0
    lo, hi = start[has] + (count[has] - 1) // 2, start[has] + count[has] // 2
    out[has] = (values[lo] + values[hi]) / 2.0
    return out


def blood_pool_floor_hu(blood_pool_hu: float | None, sd_hu: float, *, k: float) -> float | None:
    """Least peak HU of a lesion in an enhanced study: the blood pool plus `k` noise SDs.

    Parameters
    ----------
    blood_pool_hu : float or None
        Median HU of the enhanced blood pool (the aorta), None when not measured.
    sd_hu : float
        Image noise SD (HU).
    k : float
        Noise SDs above the blood (the Rose criterion's 5).

    Returns
    -------
    float or None
        None when no blood pool was measured (the rule is then off).
    """
    if blood_pool_hu is None:
        return None
    return float(blood_pool_hu) + k * float(sd_hu)


_Piece = TypeVar("_Piece", bound=tuple[Any, ...])


def above_blood_pool(pieces: list[_Piece], floor_hu: float, spacing_mm: tuple[float, float, float],
                     near_mm: float) -> list[_Piece]:
    """Lesion candidates that peak at or above `floor_hu`, with the fainter ones near them.

    Parameters
    ----------
    pieces : list of tuple
        Candidates ``(ijk, hu, ...)``: (N, 3) full-grid voxel indices and their (N,) HU.
    floor_hu : float
        Least peak (:func:`blood_pool_floor_hu`).
    spacing_mm : tuple of float
        Voxel size (mm) along the three axes.
    near_mm : float
        A fainter candidate is kept when a voxel of it lies within this distance
        (mm) of a candidate that clears the floor (the lobules of one deposit).

    Returns
    -------
    list of tuple
        The kept candidates, in their input order.
    """
    clear = [float(np.max(p[1])) >= floor_hu for p in pieces]
    if all(clear):
        return list(pieces)
    if not any(clear):
        return []
    scale = np.asarray(spacing_mm, dtype=np.float64)
    tree = cKDTree(np.concatenate([np.asarray(p[0], dtype=np.float64) * scale
                                   for p, ok in zip(pieces, clear, strict=True) if ok]))
    kept = []
    for p, ok in zip(pieces, clear, strict=True):
        if ok:
            kept.append(p)
            continue
        dist, _ = tree.query(np.asarray(p[0], dtype=np.float64) * scale,
                             distance_upper_bound=near_mm)
        if bool(np.any(np.isfinite(dist))):
            kept.append(p)
    return kept


def smoothed_core(
    groups: list[NDArray[np.integer[Any]]], hu: NDArray[Any], *, level_hu: float,
    smoothing_mm: float, spacing_mm: tuple[float, float, float],
) -> list[NDArray[np.bool_]]:
    """Per voxel set, its voxels at or next to where the smoothed image reaches `level_hu`.

    Parameters
    ----------
    groups : list of (N_g, 3) ndarray of int
        Full-grid voxel indices of each set (lesion candidates).
    hu : (I, J, K) ndarray
        CT in HU; axis 2 is the slice axis (not smoothed: slices may be thick).
    level_hu : float
        Least smoothed HU of the core (the mineral threshold).
    smoothing_mm : float
        Gaussian SD (mm) along axes 0 and 1.
    spacing_mm : tuple of float
        Voxel size (mm) along the three axes.

    Returns
    -------
    list of (N_g,) ndarray of bool
        Per set, which voxels are in its core (smoothed HU >= `level_hu`) or
        26-adjacent to it (the deposit's edge, which smoothing lowers). All False
        for a set without core: noise speckle. Each set is smoothed on its bounding
        box grown by 4 SDs in-plane, the same as smoothing the whole image.
    """
    sd_vox = (smoothing_mm / spacing_mm[0], smoothing_mm / spacing_mm[1], 0.0)
    margin = int(np.ceil(4.0 * max(sd_vox)))
    out = []
    for g in groups:
        vox = np.asarray(g).reshape(-1, 3)
        lo = np.maximum(vox.min(axis=0) - [margin, margin, 1], 0)
        hi = np.minimum(vox.max(axis=0) + 1 + [margin, margin, 1], hu.shape)
        crop = np.asarray(hu[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]], dtype=np.float32)
        smooth = ndi.gaussian_filter(crop, sd_vox, mode="nearest", truncate=4.0)
        local = (vox - lo).astype(np.intp)
        mask = np.zeros(crop.shape, dtype=bool)
        mask[local[:, 0], local[:, 1], local[:, 2]] = True
        core = mask & (smooth >= level_hu)
        near = box_filter(core, (1, 1, 1), "max")
        out.append(np.asarray(near[local[:, 0], local[:, 1], local[:, 2]]))
    return out
