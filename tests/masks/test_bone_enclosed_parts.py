"""The bone mask's 3-D fill and canal test labelled on the enclosed regions only.

Oracle: scipy's whole-background labelling (``ndi.binary_fill_holes`` and
``ndi.label`` with 6-connectivity), on random masks of both plane-labelling
branches (one scipy call up to 1 M voxels, plane by plane with cc3d above).
"""

import numpy as np
import pytest
from scipy import ndimage as ndi

from calcdx.masks import bone as B
from calcdx.masks.bone import BoneConfig


def _mask(rng, shape):
    if rng.random() < 0.5:
        return ndi.binary_dilation(rng.random(shape) < rng.uniform(0.02, 0.2))
    return rng.random(shape) < rng.uniform(0.3, 0.7)


def _holes_3d(filled, max_vox):
    """3-D holes (6-connected background off the border) up to max_vox voxels, by scipy."""
    lab, n = ndi.label(~filled)
    border = np.zeros(n + 1, dtype=bool)
    for axis in range(3):
        for end in (0, -1):
            border[np.take(lab, end, axis=axis)] = True
    size = np.bincount(lab.ravel(), minlength=n + 1)
    hole = ~border & (size <= max_vox)
    hole[0] = False
    return filled | hole[lab]


@pytest.mark.parametrize("seed", range(6))
def test_3d_fill_on_left_open_holes_equals_whole_background(seed):
    rng = np.random.default_rng(seed)
    n_holes = 0
    for trial in range(40):
        shape = (120, 110, 90) if trial == 0 else tuple(int(x) for x in rng.integers(4, 30, 3))
        m = _mask(rng, shape)
        spacing = tuple(float(x) for x in rng.uniform(0.3, 3.0, 3))
        area = float(rng.uniform(1.0, 200.0))
        left = np.zeros_like(m)
        filled = B.fill_holes_planes(m, spacing, max_hole_area_mm2=area, axes=(0, 1),
                                     too_big=left)
        assert np.array_equal(filled, B.fill_holes_planes(m, spacing, max_hole_area_mm2=area,
                                                          axes=(0, 1)))
        max_vox = int(rng.integers(1, 500)) if trial % 2 else m.size
        expected = _holes_3d(filled, max_vox)
        n_holes += int(np.any(expected != filled))
        assert np.array_equal(B._fill_3d_within(filled, left, 1, max_vox), expected)
    assert n_holes > 0  # the draws hold holes closed only in 3-D


@pytest.mark.parametrize("seed", range(4))
def test_canal_open_to_tissue_from_enclosed_regions_equals_whole_background(seed):
    rng = np.random.default_rng(100 + seed)
    cfg = BoneConfig()
    n_closed = 0
    for trial in range(30):
        shape = (130, 120, 80) if trial == 0 else tuple(int(x) for x in rng.integers(5, 40, 3))
        sealed = _mask(rng, shape)
        hu = rng.normal(20.0, 30.0, shape).astype(np.float32)
        spacing = tuple(float(x) for x in rng.uniform(0.3, 1.5, 2))
        c = cfg.model_copy(update={"max_hole_area_mm2": float(rng.uniform(1.0, 100.0)),
                                   "water_hole_max_area_mm2": float(rng.uniform(1.0, 100.0))})
        _filled, water, enclosed = B._axial_holes(hu, sealed, spacing, c)
        # every background region of a slice off its edge (scipy, in-plane cross)
        structure = np.zeros((3, 3, 3), dtype=bool)
        structure[:, :, 1] = ndi.generate_binary_structure(2, 1)
        lab, n = ndi.label(~sealed, structure=structure)
        edge = np.zeros(n + 1, dtype=bool)
        for face in (lab[0], lab[-1], lab[:, 0], lab[:, -1]):
            edge[face] = True
        inner = ~edge
        inner[0] = False
        assert np.array_equal(enclosed, inner[lab])
        # oracle: the 6-connected background reaching the in-plane faces
        lab3, n3 = ndi.label(~sealed)
        out = np.zeros(n3 + 1, dtype=bool)
        for face in (lab3[0], lab3[-1], lab3[:, 0], lab3[:, -1]):
            out[face] = True
        out[0] = False
        expected = water & out[lab3]
        n_closed += int(np.any(water & ~expected))
        assert np.array_equal(B._open_to_tissue(water, sealed, enclosed), expected)
        assert np.array_equal(B._open_to_tissue(water, sealed), expected)
    assert n_closed > 0
