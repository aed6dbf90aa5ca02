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
the mineral threshold (:func:`local_background_hu`). A speck of enhancing
liver that just crosses 130 HU is noise of that organ, not a deposit. In
native studies the global tissue level is kept, as calcium-scoring tools use
one threshold for the whole scan.

The noise SD is measured from the image: the robust SD (1.4826 x median
absolute deviation) of differences between neighbouring voxels (along axis 0)
that are both soft tissue (-100 to 100 HU), divided by sqrt(2); the tissue
level is the median of those voxels. Tissue edges add to the differences only
at their few boundary voxels, which the median ignores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["NoiseEstimate", "local_background_hu", "noise_sd_hu"]

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
    shape = np.asarray(hu.shape)
    r = np.arange(-width_vox, width_vox + 1)
    di, dj = np.meshgrid(r, r, indexing="ij")
    offsets = np.column_stack([di.ravel(), dj.ravel(), np.zeros(di.size, dtype=np.intp)])
    near = (np.asarray(ijk, dtype=np.intp)[:, None, :] + offsets[None, :, :]).reshape(-1, 3)
    near = near[np.all((near >= 0) & (near < shape), axis=1)]
    flat = np.unique(np.ravel_multi_index(near.T, hu.shape))
    own = np.ravel_multi_index(np.asarray(ijk, dtype=np.intp).T, hu.shape)
    flat = flat[~np.isin(flat, own, assume_unique=False)]
    values = np.asarray(hu.ravel()[flat] if hu.flags.c_contiguous
                        else hu[np.unravel_index(flat, hu.shape)], dtype=np.float64)
    values = values[values < below_hu]
    return float(np.median(values)) if values.size else None
