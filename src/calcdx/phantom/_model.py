"""Data types of the synthetic CT phantom: tissue codes, planted lesions, the phantom."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcdx.volume import Volume

__all__ = ["LESION_KINDS", "Phantom", "PlantedLesion", "Tissue"]

#: Every lesion kind the phantom plants, in planting order.
LESION_KINDS = (
    "zonal_rim",
    "lobulated_periarticular_cluster",
    "rice_grain_cluster",
    "serpiginous_linear",
    "phlebolith_ring",
    "subcutaneous_plaque",
    "punctate_dots",
    "vessel_wall_plaques",
)


class Tissue(IntEnum):
    """Background tissue code of each phantom voxel (before lesions are planted)."""

    AIR = 0
    SKIN = 1
    FAT = 2
    MUSCLE = 3
    CORTEX = 4
    MARROW = 5
    DISC = 6
    TABLE = 7
    METAL = 8
    VESSEL_WALL = 9
    LUMEN = 10
    KIDNEY = 11
    PELVIC_FAT = 12


@dataclass(frozen=True)
class PlantedLesion:
    """Analytic truth for one planted lesion (a cluster counts as one lesion).

    Attributes
    ----------
    id : int
        Label value of the lesion in :attr:`Phantom.labels` (1, 2, ...).
    kind : str
        One of :data:`LESION_KINDS`.
    compartment : str
        Tissue it lies in: ``"muscle"``, ``"subcutaneous"``, ``"periarticular"``,
        ``"pelvic_fat"``, ``"vessel_wall"`` or ``"juxtacortical"``.
    region : str
        Body region in words, e.g. ``"right hip"``.
    centre_mm : tuple of 3 float
        Centroid of the planted voxels, RAS+ patient coordinates in mm.
    voxel_count : int
        Number of planted voxels.
    volume_mm3 : float
        Voxel-count volume: ``voxel_count`` times the voxel volume, in mm^3.
    analytic_volume_mm3 : float
        Volume of the continuous shape before voxelisation, in mm^3.
    peak_hu, mean_hu : float
        Highest and mean planted attenuation over the planted voxels, in HU,
        before noise.
    n_parts : int
        Number of separate pieces planted (lobules, grains, plaques; 1 otherwise).
    touches_bone : bool
        True if a planted voxel is face-adjacent to the skeleton.
    distance_to_bone_mm : float
        Smallest distance from a planted voxel centre to a skeleton voxel centre.
    """

    id: int
    kind: str
    compartment: str
    region: str
    centre_mm: tuple[float, float, float]
    voxel_count: int
    volume_mm3: float
    analytic_volume_mm3: float
    peak_hu: float
    mean_hu: float
    n_parts: int
    touches_bone: bool
    distance_to_bone_mm: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of the truth."""
        return asdict(self)


@dataclass(frozen=True)
class Phantom:
    """A synthetic CT study with its analytic truth.

    Attributes
    ----------
    volume : Volume
        The CT in HU (int16, noise included) with its RAS+ affine.
    labels : (I, J, K) ndarray of int16
        Planted lesion id per voxel, 0 elsewhere.
    tissue : (I, J, K) ndarray of uint8
        Background :class:`Tissue` code per voxel (lesions not marked).
    truth : list of PlantedLesion
        One entry per planted lesion, ordered by id.
    contrast : bool
        True if the aorta lumen and kidneys are contrast-enhanced.
    seed : int
        Seed of the noise generator.
    """

    volume: Volume
    labels: NDArray[np.int16]
    tissue: NDArray[np.uint8]
    truth: list[PlantedLesion]
    contrast: bool
    seed: int

    def skeleton_mask(self) -> NDArray[np.bool_]:
        """Return the true skeleton (cortex, marrow and discs), shape ``(I, J, K)``."""
        return np.isin(self.tissue, (Tissue.CORTEX, Tissue.MARROW, Tissue.DISC))

    def truth_dict(self) -> dict[str, Any]:
        """Return the truth as a JSON-ready dict (what ``truth.json`` holds)."""
        return {
            "format": "calcdx-phantom-truth/1",
            "shape": list(self.volume.shape),
            "spacing_mm": list(self.volume.spacing_mm),
            "affine": self.volume.affine.tolist(),
            "contrast": self.contrast,
            "seed": self.seed,
            "tissue_codes": {t.name.lower(): int(t) for t in Tissue},
            "lesions": [lesion.to_dict() for lesion in self.truth],
        }
