"""A baseline / follow-up phantom pair with known changes, to test ``calcdx compare``.

The pair shares the phantom's anatomy (:mod:`calcdx.phantom`); the follow-up is the same
patient moved rigidly in the scanner (rotated about the superior axis, shifted), with lesions
grown, one stable, one resolved and one new. Lesions are solid spheres of 600 HU placed in
muscle from a seeded generator, so their volumes are analytic (4/3 pi r^3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from calcdx.phantom._anatomy import draw_anatomy
from calcdx.phantom._grid import Grid
from calcdx.phantom._model import Tissue
from calcdx.volume import Volume

__all__ = ["FollowupPair", "PlannedChange", "followup_pair", "rigid_motion"]

LESION_HU = 600.0
NOISE_SD_HU = 12.0


@dataclass(frozen=True)
class PlannedChange:
    """The truth of one lesion of the pair.

    Attributes
    ----------
    status : str
        ``grown``, ``stable``, ``resolved`` or ``new``.
    centre_mm : tuple of 3 float
        Baseline patient coordinates.
    baseline_volume_mm3, followup_volume_mm3 : float
        Analytic sphere volumes (0 when absent from that scan).
    """

    status: str
    centre_mm: tuple[float, float, float]
    baseline_volume_mm3: float
    followup_volume_mm3: float


@dataclass(frozen=True)
class FollowupPair:
    """Baseline and follow-up volumes with the planned changes and the motion applied."""

    baseline: Volume
    followup: Volume
    changes: list[PlannedChange]
    motion: NDArray[np.float64]


def rigid_motion(
    rotation_deg: float, shift_mm: tuple[float, float, float], centre_mm: NDArray[np.float64]
) -> NDArray[np.float64]:
    """4 x 4 patient-space motion: rotation about the superior axis through a centre, then shift."""
    angle = np.radians(rotation_deg)
    rot = np.array([[np.cos(angle), -np.sin(angle), 0.0],
                    [np.sin(angle), np.cos(angle), 0.0],
                    [0.0, 0.0, 1.0]])
    out = np.eye(4)
    out[:3, :3] = rot
    out[:3, 3] = centre_mm - rot @ centre_mm + np.asarray(shift_mm)
    return out


def _sphere(hu: NDArray[np.float32], affine: NDArray[np.float64], centre: NDArray[np.float64],
            radius_mm: float) -> None:
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    inverse = np.linalg.inv(affine)
    c = inverse[:3, :3] @ centre + inverse[:3, 3]
    reach = np.ceil(radius_mm / spacing).astype(int) + 1
    lo = np.maximum(np.floor(c).astype(int) - reach, 0)
    hi = np.minimum(np.ceil(c).astype(int) + reach + 1, hu.shape)
    idx = np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi, strict=True)],
                               indexing="ij"), axis=-1).astype(np.float64)
    world = idx @ affine[:3, :3].T + affine[:3, 3]
    inside = np.linalg.norm(world - centre, axis=-1) <= radius_mm
    box = hu[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    box[inside] = LESION_HU


def followup_pair(
    *, seed: int = 0, rotation_deg: float = 5.0, shift_mm: tuple[float, float, float] = (
        10.0, 0.0, 0.0), growth: float = 0.20,
    shape: tuple[int, int, int] = (150, 150, 106),
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.5),
) -> FollowupPair:
    """Build the pair.

    Parameters
    ----------
    seed : int
        Seeds the lesion placement and the noise.
    rotation_deg : float
        Rotation of the patient about the superior axis at follow-up.
    shift_mm : tuple of 3 float
        Shift of the patient at follow-up, mm.
    growth : float
        Relative volume growth of the grown lesions (0.20 = 20 %).
    shape, spacing_mm
        Grid of both scans (the phantom's anatomy needs about 150 x 150 x 160 mm).

    Returns
    -------
    FollowupPair
        Five lesions: two grown by ``growth``, one stable, one resolved, one new.
    """
    rng = np.random.default_rng(seed)
    grid = Grid(shape, spacing_mm)
    clean, tissue = draw_anatomy(grid, contrast=False)
    affine = grid.affine()
    radii = [8.0, 7.0, 8.0, 7.0, 7.5]
    statuses = ["grown", "grown", "stable", "resolved", "new"]
    # Centres deep in muscle: at least the grown radius + 4 mm from any other tissue,
    # and 15 mm from the field of view's edge (the follow-up moves by 10 mm).
    muscle = tissue == Tissue.MUSCLE
    depth = ndimage.distance_transform_edt(muscle, sampling=spacing_mm)
    edge = np.zeros(shape, dtype=bool)
    margin = [int(np.ceil(20.0 / s)) for s in spacing_mm]
    edge[margin[0]:-margin[0], margin[1]:-margin[1], margin[2]:-margin[2]] = True
    centres: list[NDArray[np.float64]] = []
    for radius in radii:
        need = radius * (1 + growth) ** (1 / 3) + 4.0
        candidates = np.argwhere((depth >= need) & edge)
        rng.shuffle(candidates)
        for ijk in candidates:
            world = affine[:3, :3] @ ijk + affine[:3, 3]
            if all(np.linalg.norm(world - c) > 30.0 for c in centres):
                centres.append(world)
                break
        else:
            raise ValueError("the phantom has too little muscle for five separate lesions")
    centre_mm = affine[:3, :3] @ ((np.asarray(shape) - 1) / 2.0) + affine[:3, 3]
    motion = rigid_motion(rotation_deg, shift_mm, centre_mm)
    # Follow-up voxel o shows the anatomy at motion^-1(world(o)); the lesions are drawn
    # directly on the follow-up grid at their moved centres (a moved sphere is a sphere),
    # so both scans voxelise them alike and interpolation does not blur their edges.
    index_map = np.linalg.inv(affine) @ np.linalg.inv(motion) @ affine
    follow = ndimage.affine_transform(clean, index_map[:3, :3], offset=index_map[:3, 3],
                                      order=1, mode="constant", cval=-1000.0)
    base = clean.copy()
    changes = []
    for status, radius, centre in zip(statuses, radii, centres, strict=True):
        grown = radius * (1 + growth) ** (1 / 3) if status == "grown" else radius
        if status != "new":
            _sphere(base, affine, centre, radius)
        if status != "resolved":
            _sphere(follow, affine, motion[:3, :3] @ centre + motion[:3, 3], grown)
        volume = 4.0 / 3.0 * np.pi
        changes.append(PlannedChange(
            status=status, centre_mm=(float(centre[0]), float(centre[1]), float(centre[2])),
            baseline_volume_mm3=0.0 if status == "new" else volume * radius**3,
            followup_volume_mm3=0.0 if status == "resolved" else volume * grown**3,
        ))
    volumes = []
    for content in (base, follow):
        noisy = content + rng.normal(0.0, NOISE_SD_HU, size=shape).astype(np.float32)
        volumes.append(Volume(
            hu=np.clip(np.rint(noisy), -1024, 3071).astype(np.int16), affine=affine,
            metadata={"source": "phantom", "modality": "CT", "warnings": [],
                      "noise_sd_hu": NOISE_SD_HU, "seed": seed}))
    return FollowupPair(volumes[0], volumes[1], changes, motion)
