"""Where a lesion lies: skin and bone distances, surrounding tissue, compartment.

Definitions
-----------
* ``skin_distance_mm``: Euclidean distance from the lesion's centroid to the
  nearest non-body cell, on the ~4 mm coarse body grid (precision about one
  coarse voxel; the field-of-view edge is not skin).
* ``bone_distance_mm``: smallest Euclidean distance from a lesion voxel to bone
  (cortex or marrow), exact (full resolution) within ``near_bone_mm`` (20 mm),
  from the coarse bone grid beyond; 0 when the lesion touches bone.
* ``n_bones_nearby``: separate bones (6-connected pieces of the bone mask)
  within ``near_bone_mm`` of the lesion's bounding box; two or more suggest a
  joint.
* ``surrounding_median_hu``: median HU of a shell ``shell_mm`` (2 mm) thick
  around the lesion; fat <= -30 HU, soft tissue (muscle, fluid, organ)
  -30 to 150 HU, air < -400 HU, dense otherwise.
* ``compartment``: a guess in the case-format ``location`` vocabulary:
  ``artery`` (plaque at an enhancing lumen, or a member of a plaque-lined tube
  with a blood-density or enhanced lumen, :mod:`calcdx.measure.vessel`),
  ``periarticular`` (within 15 mm of
  two bones), ``juxtacortical`` (within 2 mm of one bone), ``skin_dermis``
  (within 3 mm of the skin in fat), ``subcutaneous`` (in fat within 60 mm of the
  skin), ``muscle`` (in soft tissue), else None.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict
from scipy import ndimage as ndi

from calcdx.masks._filters import ball_dilation

__all__ = [
    "PERIARTICULAR_MM",
    "ClusterStatistics",
    "LesionContext",
    "cluster_statistics",
    "compartment_guess",
    "surrounding_tissue",
]

#: A lesion within this distance of two or more bones is periarticular, mm.
PERIARTICULAR_MM = 15.0


class LesionContext(BaseModel):
    """Where one lesion lies."""

    model_config = ConfigDict(frozen=True)

    skin_distance_mm: float | None
    bone_distance_mm: float | None
    touches_bone: bool
    n_bones_nearby: int
    surrounding_median_hu: float | None
    surrounding_tissue: str | None
    compartment: str | None


def surrounding_tissue(
    mask: NDArray[np.bool_],
    hu: NDArray[Any],
    spacing_mm: tuple[float, float, float],
    *,
    shell_mm: float = 2.0,
) -> tuple[float | None, str | None]:
    """Median HU and tissue class of a shell around a lesion.

    Parameters
    ----------
    mask : (a, b, c) ndarray of bool
        Lesion in a crop with a margin of at least `shell_mm`.
    hu : (a, b, c) ndarray
        HU in the crop.
    spacing_mm : tuple of float
        Voxel size in mm.
    shell_mm : float
        Shell thickness in mm.

    Returns
    -------
    (float or None, str or None)
        Median HU and one of ``"fat"``, ``"soft_tissue"``, ``"air"``, ``"dense"``.
    """
    if mask.ndim == 3 and mask.any():
        # the voxels within shell_mm of the lesion, as the distance transform of its
        # complement gives them (a dilation by that ball, no distance array)
        shell = ball_dilation(mask, spacing_mm, shell_mm) & ~mask
    else:
        dist = ndi.distance_transform_edt(~mask, sampling=spacing_mm)
        shell = (dist > 0) & (dist <= shell_mm)
    if not shell.any():
        return None, None
    median = float(np.median(hu[shell]))
    if median < -400:
        label = "air"
    elif median <= -30:
        label = "fat"
    elif median < 150:
        label = "soft_tissue"
    else:
        label = "dense"
    return median, label


def compartment_guess(
    *,
    origin: str,
    touches_bone: bool,
    bone_distance_mm: float | None,
    n_bones_nearby: int,
    skin_distance_mm: float | None,
    tissue: str | None,
    vessel_wall: bool = False,
) -> str | None:
    """Guess the tissue compartment (case-format ``location`` value).

    Parameters
    ----------
    origin : str
        Detection origin (``"vessel_wall_plaque"`` means at an enhancing lumen).
    touches_bone : bool
    bone_distance_mm, skin_distance_mm : float or None
    n_bones_nearby : int
    tissue : str or None
        Surrounding tissue class.
    vessel_wall : bool
        The lesion is plaque of a plaque-lined tube 2-20 mm in radius with a
        blood-density (or enhanced) lumen (:func:`calcdx.measure.vessel.find_vessel_walls`),
        read as an artery (a calcified vein wall is much rarer).

    Returns
    -------
    str or None
    """
    bd = bone_distance_mm if bone_distance_mm is not None else np.inf
    sd = skin_distance_mm if skin_distance_mm is not None else np.inf
    if origin == "vessel_wall_plaque" or vessel_wall:
        return "artery"
    if n_bones_nearby >= 2 and bd <= PERIARTICULAR_MM:
        return "periarticular"
    if touches_bone or bd <= 2.0:
        return "juxtacortical"
    if tissue == "fat" and sd <= 3.0:
        return "skin_dermis"
    if tissue == "fat" and sd <= 60.0:
        return "subcutaneous"
    if tissue == "soft_tissue":
        return "muscle"
    return None


class ClusterStatistics(BaseModel):
    """Statistics of a cluster of lesions."""

    model_config = ConfigDict(frozen=True)

    n_lesions: int
    total_volume_mm3: float
    median_volume_mm3: float
    max_volume_mm3: float
    mean_hu: float
    peak_hu: float
    agatston: float
    mass: float
    extent_mm: float
    median_nearest_neighbour_mm: float
    median_elongation: float
    axis_alignment: float


def cluster_statistics(
    *,
    volumes_mm3: NDArray[np.float64],
    mean_hu: NDArray[np.float64],
    peak_hu: NDArray[np.float64],
    agatston: NDArray[np.float64],
    mass: NDArray[np.float64],
    centroids_mm: NDArray[np.float64],
    elongations: NDArray[np.float64],
    major_axes: NDArray[np.float64],
) -> ClusterStatistics:
    """Summarise the lesions of one cluster.

    Parameters
    ----------
    volumes_mm3, mean_hu, peak_hu, agatston, mass, elongations : (n,) ndarray
        Per-lesion values.
    centroids_mm : (n, 3) ndarray
        Lesion centroids in mm.
    major_axes : (n, 3) ndarray
        Unit major-axis directions.

    Returns
    -------
    ClusterStatistics
        ``extent_mm`` is the largest centroid-to-centroid distance;
        ``axis_alignment`` is the mean |cos| between each lesion's major axis and
        the cluster's dominant axis (1 = all parallel, ~0.5 = random).
    """
    diff = centroids_mm[:, None, :] - centroids_mm[None, :, :]
    dist = np.linalg.norm(diff, axis=2)
    np.fill_diagonal(dist, np.inf)
    nn = dist.min(axis=1)
    np.fill_diagonal(dist, 0.0)
    scatter = major_axes.T @ major_axes
    dominant = np.linalg.eigh(scatter)[1][:, -1]
    total = float(volumes_mm3.sum())
    return ClusterStatistics(
        n_lesions=len(volumes_mm3),
        total_volume_mm3=total,
        median_volume_mm3=float(np.median(volumes_mm3)),
        max_volume_mm3=float(volumes_mm3.max()),
        mean_hu=float((mean_hu * volumes_mm3).sum() / total) if total > 0 else 0.0,
        peak_hu=float(peak_hu.max()),
        agatston=float(agatston.sum()),
        mass=float(mass.sum()),
        extent_mm=float(dist.max()),
        median_nearest_neighbour_mm=float(np.median(nn)),
        median_elongation=float(np.median(elongations)),
        axis_alignment=float(np.mean(np.abs(major_axes @ dominant))),
    )
