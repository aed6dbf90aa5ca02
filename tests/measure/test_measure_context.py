"""Surrounding tissue: the shell is the voxels within shell_mm of the lesion."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from calcdx.measure.context import surrounding_tissue


@pytest.mark.parametrize("spacing", [(0.98, 0.98, 0.1), (0.7, 0.7, 3.0), (0.5, 0.8, 2.0)])
def test_shell_median_is_that_of_the_distance_transform_shell(spacing):
    """Median HU over the voxels 0 < distance <= shell_mm (scipy's EDT of the outside)."""
    rng = np.random.default_rng(3)
    margin = np.ceil(2.0 / np.asarray(spacing)).astype(int) + 1
    for _ in range(6):
        core = rng.integers(1, 8, 3)
        mask = np.zeros(tuple(core + 2 * margin), dtype=bool)
        box = tuple(slice(m, m + c) for m, c in zip(margin, core, strict=True))
        mask[box] = rng.random(tuple(core)) < 0.5
        mask[tuple(margin)] = True
        hu = rng.normal(0.0, 300.0, mask.shape).astype(np.float32)
        dist = ndi.distance_transform_edt(~mask, sampling=spacing)
        expected = float(np.median(hu[(dist > 0) & (dist <= 2.0)]))
        median, _ = surrounding_tissue(mask, hu, spacing, shell_mm=2.0)
        assert median == expected


def test_tissue_class_of_fat_shell():
    """A lesion in fat (-100 HU) reads as fat."""
    mask = np.zeros((9, 9, 9), dtype=bool)
    mask[4, 4, 4] = True
    hu = np.full(mask.shape, -100.0, dtype=np.float32)
    hu[mask] = 400.0
    assert surrounding_tissue(mask, hu, (1.0, 1.0, 1.0), shell_mm=2.0) == (-100.0, "fat")
