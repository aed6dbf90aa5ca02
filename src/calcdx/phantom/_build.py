"""Assemble the phantom: anatomy, planted lesions, noise and truth."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import cKDTree

from calcdx.phantom._anatomy import draw_anatomy
from calcdx.phantom._grid import Grid
from calcdx.phantom._layout import randomise_layout
from calcdx.phantom._lesions import LesionSpec, lesion_specs
from calcdx.phantom._model import Phantom, PlantedLesion, Tissue
from calcdx.volume import Volume

__all__ = ["NOISE_SD_HU", "make_phantom"]

#: Standard deviation of the gaussian image noise, in HU.
NOISE_SD_HU = 12.0
HU_RANGE = (-1024, 3071)


def make_phantom(
    *,
    shape: tuple[int, int, int] = (192, 192, 96),
    spacing_mm: tuple[float, float, float] = (0.8, 0.8, 2.0),
    contrast: bool = False,
    seed: int = 0,
    layout_seed: int | None = None,
    rotation: NDArray[np.float64] | None = None,
) -> Phantom:
    """Build a synthetic CT phantom with planted calcifications and their truth.

    The anatomy (body with skin, subcutaneous fat and muscle; two femora with
    cortex and marrow; a vertebral column; a curved scanner table; a metal rod
    with streaks; an aorta; kidneys; pelvic fat) and the lesions are defined in
    millimetres, so any spacing draws the same objects. The layout needs a field
    of view of about 150 x 150 x 190 mm (the default); a lesion that does not fit
    wholly inside a smaller field of view is not planted and has no truth entry.

    Parameters
    ----------
    shape : tuple of 3 int
        Grid shape ``(I, J, K)``: columns (patient right to left), rows
        (anterior to posterior), slices (inferior to superior).
    spacing_mm : tuple of 3 float
        Voxel size in mm along the three axes.
    contrast : bool
        Contrast-enhanced study: aorta lumen ~300 HU, kidneys ~200 HU
        (otherwise ~40 and ~35 HU).
    seed : int
        Seed of the noise generator; the geometry does not depend on it.
    layout_seed : int, optional
        Move, scale and turn the lesions at random within what their anatomy
        allows (:mod:`calcdx.phantom._layout`); None keeps the fixed layout.
    rotation : (3, 3) ndarray, optional
        Oblique pose: the grid's world axes are turned by this proper rotation
        (the affine's 3 x 3 part becomes ``rotation @ A``); see
        :func:`calcdx.phantom.random_acquisition`.

    Returns
    -------
    Phantom
        The CT volume (int16 HU, gaussian noise of :data:`NOISE_SD_HU`), the
        lesion label map, the tissue map and one :class:`PlantedLesion` per lesion.

    Raises
    ------
    StudyError
        If the shape or spacing is not three positive numbers (via :class:`Volume`).
    """
    grid = Grid(tuple(int(n) for n in shape), tuple(float(s) for s in spacing_mm))  # type: ignore[arg-type]
    hu, tissue = draw_anatomy(grid, contrast=contrast)
    skeleton = np.isin(tissue, (Tissue.CORTEX, Tissue.MARROW, Tissue.DISC))
    labels = np.zeros(grid.shape, dtype=np.int16)
    planted: list[tuple[int, LesionSpec, float]] = []
    specs = lesion_specs()
    if layout_seed is not None:
        specs = randomise_layout(specs, np.random.default_rng(layout_seed))
    for spec in specs:
        if not all(grid.contains(part.lo, part.hi) for part in spec.parts):
            continue
        lesion_id = len(planted) + 1
        placed = _plant(grid, spec, lesion_id, hu, labels, skeleton,
                        allow_overlap=layout_seed is not None)
        if placed == 0:
            continue  # smaller than a voxel at this spacing, or overlapping another
        planted.append((lesion_id, spec, sum(part.volume_mm3 for part in spec.parts)))

    affine = grid.affine()
    if rotation is not None:
        r = np.asarray(rotation, dtype=np.float64)
        if r.shape != (3, 3) or not np.allclose(r @ r.T, np.eye(3), atol=1e-9) \
                or np.linalg.det(r) <= 0:
            raise ValueError("rotation must be a proper 3 x 3 rotation matrix")
        affine = affine.copy()
        affine[:3, :] = r @ affine[:3, :]
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, NOISE_SD_HU, size=grid.shape).astype(np.float32)
    clean = hu
    noisy = np.clip(np.rint(clean + noise), *HU_RANGE).astype(np.int16)
    volume = Volume(
        hu=noisy,
        affine=affine,
        metadata={
            "source": "phantom",
            "modality": "CT",
            "manufacturer": "calcdx phantom",
            "kvp": 120.0,
            "convolution_kernel": "STANDARD",
            "slice_thickness_mm": grid.spacing[2],
            "contrast": contrast,
            "seed": seed,
            "layout_seed": layout_seed,
            "noise_sd_hu": NOISE_SD_HU,
            "warnings": [],
        },
    )
    truth = _truth(grid, planted, clean, labels, skeleton, affine)
    return Phantom(
        volume=volume, labels=labels, tissue=tissue, truth=truth, contrast=contrast, seed=seed
    )


def _plant(
    grid: Grid,
    spec: LesionSpec,
    lesion_id: int,
    hu: NDArray[np.float32],
    labels: NDArray[np.int16],
    skeleton: NDArray[np.bool_],
    *,
    allow_overlap: bool = False,
) -> int:
    """Draw a lesion and return its voxel count.

    0 when no voxel centre falls in it or, in a random layout, when it would
    overlap or touch a lesion already drawn.
    """
    drawn = []
    for part in spec.parts:
        box = grid.box(part.lo, part.hi)
        if box is None:
            continue
        sl, x, y, z = box
        inside, values = part.shape(x, y, z)
        inside = inside & ~skeleton[sl]
        if allow_overlap:
            near = ndimage.maximum_filter(labels[sl], size=3)
            if np.any(near[inside] > 0):
                return 0
        elif np.any(labels[sl][inside]):
            raise RuntimeError(f"phantom lesion {lesion_id} ({spec.kind}) overlaps another lesion")
        drawn.append((sl, inside, np.broadcast_to(values, inside.shape)))
    count = 0
    for sl, inside, values in drawn:
        labels[sl][inside] = lesion_id
        hu[sl][inside] = values[inside]
        count += int(np.count_nonzero(inside))
    return count


def _truth(
    grid: Grid,
    planted: list[tuple[int, LesionSpec, float]],
    clean: NDArray[np.float32],
    labels: NDArray[np.int16],
    skeleton: NDArray[np.bool_],
    affine: NDArray[np.float64],
) -> list[PlantedLesion]:
    voxel_volume = float(np.prod(grid.spacing))
    surface = skeleton & ~ndimage.binary_erosion(skeleton)
    bone_tree = cKDTree(np.argwhere(surface) * np.array(grid.spacing))
    objects = ndimage.find_objects(labels)
    cross = ndimage.generate_binary_structure(3, 1)
    truth: list[PlantedLesion] = []
    for lesion_id, spec, analytic in planted:
        box = objects[lesion_id - 1]
        if box is None:
            continue
        grown = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
        mask = labels[grown] == lesion_id
        ijk = np.argwhere(mask) + np.array([s.start for s in grown])
        centre = ijk.mean(axis=0) @ affine[:3, :3].T + affine[:3, 3]
        values = clean[grown][mask]
        touching = ndimage.binary_dilation(mask, structure=cross) & skeleton[grown]
        n_parts = int(ndimage.label(mask, structure=np.ones((3, 3, 3)))[1])
        truth.append(
            PlantedLesion(
                id=lesion_id,
                kind=spec.kind,
                compartment=spec.compartment,
                region=spec.region,
                centre_mm=(float(centre[0]), float(centre[1]), float(centre[2])),
                voxel_count=int(mask.sum()),
                volume_mm3=float(mask.sum()) * voxel_volume,
                analytic_volume_mm3=float(analytic),
                peak_hu=float(values.max()),
                mean_hu=float(values.mean()),
                n_parts=n_parts,
                touches_bone=bool(touching.any()),
                distance_to_bone_mm=float(bone_tree.query(ijk * np.array(grid.spacing))[0].min()),
            )
        )
    return truth
