"""Agatston-style score and mass score of one lesion, with the rule set stated.

Rule set ``calcdx-agatston/1`` (one rule set, written to ``result.json``)
-------------------------------------------------------------------------
* Lesion: a 3-D 26-connected component of voxels with HU >= 130 (``>=``, not
  ``>``), as detected by :mod:`calcdx.lesions.detect`.
* Scored slice by slice along grid axis 2 (the acquisition slice axis): in each
  slice the lesion's area is its voxel count x pixel area (mm^2). Slice parts
  smaller than 1 mm^2 score 0.
* Density weight from the lesion's **peak** HU *in that slice*: 130-199 -> 1,
  200-299 -> 2, 300-399 -> 3, >= 400 -> 4 (Agatston et al., JACC 1990).
* Thickness normalisation: each slice's contribution is multiplied by
  slice spacing / 3 mm (the original score assumed contiguous 3 mm slices; this
  is the "equivalent" convention of the open Lessmann/Isgum scorer,
  ``qurAI-amsterdam/calcium-scoring``, which we re-implemented, not copied).
  HU are never resampled before scoring.
* Mass score = c x mean HU x volume (cm^3) (McCollough et al., Radiology
  2007;243:527). With a scanner calibration factor c_HA in mg HA / (cm^3 HU),
  from a hydroxyapatite phantom, the mass is in mg. No default c_HA could be
  sourced that holds across scanners and kV, so the default is c = 1 and the
  output is a *relative mass* in HU x cm^3, labelled as such.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["AGATSTON_WEIGHTS", "agatston_rules", "agatston_score", "density_weight", "mass_score"]

#: Lower HU bound of each density weight (weight = index + 1).
AGATSTON_WEIGHTS: tuple[tuple[float, int], ...] = ((130.0, 1), (200.0, 2), (300.0, 3), (400.0, 4))


def density_weight(peak_hu: float) -> int:
    """Agatston density weight of a slice part from its peak HU.

    Parameters
    ----------
    peak_hu : float
        Peak HU of the lesion in one slice.

    Returns
    -------
    int
        1 for 130-199, 2 for 200-299, 3 for 300-399, 4 for >= 400, 0 below 130.

    Examples
    --------
    >>> [density_weight(h) for h in (129, 130, 199.5, 200, 399, 400, 2000)]
    [0, 1, 1, 2, 3, 4, 4]
    """
    weight = 0
    for lower, w in AGATSTON_WEIGHTS:
        if peak_hu >= lower:
            weight = w
    return weight


def agatston_score(
    ijk: NDArray[np.integer[Any]],
    hu: NDArray[Any],
    spacing_mm: tuple[float, float, float],
    *,
    min_area_mm2: float = 1.0,
    reference_thickness_mm: float = 3.0,
) -> float:
    """Agatston-style score of one lesion (rule set ``calcdx-agatston/1``).

    Parameters
    ----------
    ijk : (N, 3) ndarray of int
        The lesion's voxel indices; axis 2 is the slice axis.
    hu : (N,) ndarray
        Their HU (all at or above the detection threshold).
    spacing_mm : tuple of float
        Voxel size in mm ``(row pixel, column pixel, slice spacing)``.
    min_area_mm2 : float
        Slice parts below this area score 0.
    reference_thickness_mm : float
        Thickness the score is normalised to.

    Returns
    -------
    float
        Sum over slices of area (mm^2) x weight x spacing / 3 mm.
    """
    if len(ijk) == 0:
        return 0.0
    pixel_area = spacing_mm[0] * spacing_mm[1]
    factor = spacing_mm[2] / reference_thickness_mm
    k = np.asarray(ijk)[:, 2]
    order = np.argsort(k, kind="stable")
    _, starts = np.unique(k[order], return_index=True)
    peaks = np.maximum.reduceat(np.asarray(hu, dtype=np.float64)[order], starts)
    counts = np.diff(np.append(starts, len(k)))
    total = 0.0
    for count, peak in zip(counts, peaks, strict=True):
        area = float(count) * pixel_area
        if area >= min_area_mm2:
            total += area * density_weight(float(peak)) * factor
    return total


def mass_score(mean_hu: float, volume_mm3: float, calibration: float = 1.0) -> float:
    """Mass score c x mean HU x volume (cm^3).

    Parameters
    ----------
    mean_hu : float
        Mean HU of the lesion.
    volume_mm3 : float
        Lesion volume in mm^3.
    calibration : float
        c_HA in mg / (cm^3 HU) gives mg; 1.0 gives relative mass in HU x cm^3.

    Returns
    -------
    float
    """
    return calibration * mean_hu * volume_mm3 / 1000.0


def agatston_rules(
    *,
    threshold_hu: float = 130.0,
    min_area_mm2: float = 1.0,
    calibration_mg_per_cm3_hu: float | None = None,
) -> dict[str, Any]:
    """The rule set, as written to ``result.json``.

    Parameters
    ----------
    threshold_hu : float
        Detection threshold (HU, inclusive).
    min_area_mm2 : float
        Minimum area of a scored slice part.
    calibration_mg_per_cm3_hu : float or None
        Mass calibration factor, or None for relative mass.

    Returns
    -------
    dict
    """
    calibrated = calibration_mg_per_cm3_hu is not None
    return {
        "name": "calcdx-agatston/1",
        "threshold_hu": threshold_hu,
        "threshold_comparison": ">=",
        "lesion_connectivity": "3-D, 26-connected (faces, edges, corners)",
        "scoring_unit": "each lesion scored slice by slice along grid axis 2",
        "area": "voxel count in the slice x pixel area (mm^2)",
        "min_area_mm2_per_slice": min_area_mm2,
        "weight_from": "peak HU of the lesion in that slice",
        "weights": {"130-199": 1, "200-299": 2, "300-399": 3, ">=400": 4},
        "thickness_normalisation": "x slice spacing (mm) / 3 mm; HU never resampled",
        "volume": "voxel count x voxel volume (mm^3)",
        "mass": "c x mean HU x volume (cm^3)",
        "mass_calibration": calibration_mg_per_cm3_hu if calibrated else 1.0,
        "mass_unit": "mg hydroxyapatite" if calibrated else "relative mass, HU x cm^3 (c = 1)",
        "references": [
            "Agatston AS et al. J Am Coll Cardiol 1990;15:827-832",
            "McCollough CH et al. Radiology 2007;243:527-538 (mass score)",
            "qurAI-amsterdam/calcium-scoring (3-D lesions scored per slice, x spacing/3)",
        ],
    }
