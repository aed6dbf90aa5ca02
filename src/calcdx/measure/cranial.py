"""Inside the cranial cavity: where a head lesion is intracranial, read from the skull.

:func:`cranial_cavity` is a stage function: the skeleton mask (on its crop), the
HU there and the voxel size in, a boolean mask of the cranial cavity out, its
thresholds in a small validated :class:`CranialConfig`.

Method
------
1. In each axial slice, the background of the skeleton (4-connected, outside
   bone) that does not reach the slice's edge is *enclosed* by bone.
2. Seeds: enclosed regions of at least ``min_area_mm2`` whose median HU lies in
   ``brain_hu``: the brain and CSF inside the skull's ring. The air of the
   sinuses or of an empty phantom skull, and regions smaller than any slice of
   the brain above the skull base, are not seeds.
3. The cavity: the enclosed background 6-connected across the slices to a seed
   (through voxels enclosed in their own slices), so the posterior and middle
   cranial fossae, whose sections at the skull base are small, join the brain
   above them; the orbits and the nasal cavity, closed off from it by bone or
   open to the face in lower slices, do not.

A lesion of the head with at least half of its voxels in the cavity is
intracranial (:func:`intracranial_fraction`); the analysis gives it the organ
``brain`` (a calcdx extension of the case-format vocabulary: inside the
cranial cavity, meninges, ventricles and pineal region included).

Stated limits: on a grid cut above the skull base or through the vault only,
the slices still ring the cavity and it is found; a skull opened by surgery or
a fracture in a slice leaves that slice's cavity open (not enclosed) and the
lesions there unlocated unless connected across slices; the cavity is looked for
only in the head (the analysis asks it for lesions whose region is
``head_face``), since an abdomen ringed by the lower ribs in a slice has the
same density.
"""

from __future__ import annotations

from typing import Any

import cc3d
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from calcdx.errors import InputError

__all__ = ["CranialConfig", "cranial_cavity", "intracranial_fraction"]


class CranialConfig(BaseModel):
    """Thresholds of :func:`cranial_cavity` (HU, mm^2), each with its basis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_area_mm2: float = Field(
        3000.0, gt=0,
        description="least in-plane area of an enclosed region that seeds the cavity. "
        "Heuristic from adult anatomy, the bone mask's largest marrow hole "
        "(calcdx.masks.bone.BoneConfig.max_hole_area_mm2: a vertebral body or a femoral "
        "head spans under 2000 mm^2): the cranial cavity spans far more above the skull "
        "base (about 140 x 170 mm at the lateral ventricles, over 15,000 mm^2), the orbit "
        "(about 35 x 40 mm) less",
    )
    brain_hu: tuple[float, float] = Field(
        (-10.0, 70.0),
        description="median HU range of a seed: brain and CSF. Heuristic from standard CT "
        "attenuation values: CSF 0-15 HU, white matter 20-30 HU, grey matter 35-45 HU, with "
        "margin for calibration and beam hardening next to the skull; sinus air (about "
        "-1000 HU) and fat (about -100 HU) lie below it",
    )


def cranial_cavity(
    bone: NDArray[np.bool_],
    hu: NDArray[Any],
    spacing_mm: tuple[float, float, float],
    *,
    config: CranialConfig | None = None,
) -> NDArray[np.bool_]:
    """The cranial cavity: background enclosed by the skull, joined to the brain's slices.

    Parameters
    ----------
    bone : (I, J, K) ndarray of bool
        The skeleton (:attr:`calcdx.masks.bone.BoneResult.filled`, or any bone mask);
        axis 2 is the slice axis.
    hu : (I, J, K) ndarray
        CT in HU on the same grid.
    spacing_mm : tuple of float
        Voxel size (mm) along I, J, K.
    config : CranialConfig, optional

    Returns
    -------
    (I, J, K) ndarray of bool
        The cavity; empty when no slice rings brain-density tissue of the seed size.

    Raises
    ------
    InputError
        The arrays are not 3-D of one shape, or a spacing is not positive.
    """
    cfg = config or CranialConfig()
    if bone.ndim != 3 or bone.shape != hu.shape:
        raise InputError(f"cranial_cavity needs a 3-D bone mask and HU of one shape, got "
                         f"{bone.shape} and {hu.shape}")
    if len(spacing_mm) != 3 or min(spacing_mm) <= 0:
        raise InputError(f"spacing_mm must be three positive lengths, got {spacing_mm}")
    area_vox = cfg.min_area_mm2 / (float(spacing_mm[0]) * float(spacing_mm[1]))
    lo, hi = cfg.brain_hu
    enclosed = np.zeros(bone.shape, dtype=bool)
    seed = np.zeros(bone.shape, dtype=bool)
    for k in range(bone.shape[2]):
        plane = bone[:, :, k]
        if not plane.any():
            continue
        labels, n = cc3d.connected_components(~plane, connectivity=4, return_N=True)
        inner = np.ones(int(n) + 1, dtype=bool)
        inner[0] = False
        for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
            inner[edge] = False
        if not inner.any():
            continue
        count = np.bincount(labels.ravel(), minlength=int(n) + 1)
        enclosed[:, :, k] = inner[labels]
        big = np.flatnonzero(inner & (count >= area_vox))
        if len(big) == 0:
            continue
        h = np.asarray(hu[:, :, k])
        for c in big:
            region = labels == c
            if lo <= float(np.median(h[region])) <= hi:
                seed[:, :, k] |= region
    if not seed.any():
        return seed
    labels3, n3 = cc3d.connected_components(enclosed, connectivity=6, return_N=True)
    keep = np.zeros(int(n3) + 1, dtype=bool)
    keep[labels3[seed]] = True
    keep[0] = False
    return np.asarray(keep[labels3], dtype=bool)


def intracranial_fraction(cavity: NDArray[np.bool_], ijk: NDArray[np.integer[Any]],
                          offset: tuple[int, int, int] = (0, 0, 0)) -> float:
    """Fraction of a lesion's voxels inside the cavity.

    Parameters
    ----------
    cavity : (A, B, C) ndarray of bool
        :func:`cranial_cavity` on a crop starting at `offset` of the full grid.
    ijk : (N, 3) ndarray of int
        The lesion's voxels, full-grid indices.
    offset : tuple of int
        Full-grid index of ``cavity[0, 0, 0]``.

    Returns
    -------
    float
        0 to 1; voxels outside the crop count as outside the cavity.
    """
    if len(ijk) == 0 or cavity.size == 0:
        return 0.0
    local = np.asarray(ijk) - np.asarray(offset)
    ok = np.all((local >= 0) & (local < np.asarray(cavity.shape)), axis=1)
    inside = np.zeros(len(local), dtype=bool)
    inside[ok] = cavity[local[ok, 0], local[ok, 1], local[ok, 2]]
    return float(inside.mean())
