"""In-plane hole filling (calcdx.masks.bone.fill_holes_2d_3d, fill_holes_planes).

Truth: scipy's binary_fill_holes applied to each plane on its own (background
4-connected in the plane), and the hole sizes counted plane by plane.
"""

import numpy as np
import pytest
from scipy import ndimage as ndi

from calcdx.masks.bone import fill_holes_2d_3d, fill_holes_planes


def _rings(shape, seed):
    """Random hollow squares and speckle: holes of many sizes in every plane."""
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < 0.02
    for _ in range(shape[2] * 3):
        k = int(rng.integers(0, shape[2]))
        i, j = (int(v) for v in rng.integers(0, [shape[0] - 12, shape[1] - 12]))
        r = int(rng.integers(2, 6))
        mask[i:i + 2 * r + 1, j:j + 2 * r + 1, k] = True
        mask[i + 1:i + 2 * r, j + 1:j + 2 * r, k] = False
    return mask


def _per_plane(mask, axis, max_area=None):
    out = np.array(mask)
    for k in range(mask.shape[axis]):
        plane = np.take(mask, k, axis=axis)
        holes = ndi.binary_fill_holes(plane) & ~plane
        if max_area is not None:
            lab, n = ndi.label(holes)
            small = np.bincount(lab.ravel(), minlength=n + 1) <= max_area
            small[0] = False
            holes = small[lab]
        index = [slice(None)] * 3
        index[axis] = k
        out[tuple(index)] |= holes
    return out


@pytest.mark.parametrize("shape", [(40, 36, 20), (160, 150, 60)])  # one call / plane by plane
def test_slice_holes_match_each_plane_filled_alone(shape):
    mask = _rings(shape, seed=shape[0])
    got = fill_holes_2d_3d(mask, three_d=False)
    assert np.array_equal(got, _per_plane(mask, 2))
    got = fill_holes_2d_3d(mask, max_hole_area_vox=20, three_d=False)
    assert np.array_equal(got, _per_plane(mask, 2, max_area=20))


@pytest.mark.parametrize("shape", [(40, 36, 20), (160, 150, 60)])
def test_planes_in_three_directions(shape):
    mask = _rings(shape, seed=shape[1])
    spacing = (0.5, 0.8, 2.0)
    want = mask
    for axis in (2, 0, 1):
        in_plane = [s for i, s in enumerate(spacing) if i != axis]
        want = _per_plane(want, axis, max_area=int(30.0 / (in_plane[0] * in_plane[1])))
    got = fill_holes_planes(mask, spacing, max_hole_area_mm2=30.0)
    assert np.array_equal(got, want)


def _cavities(shape, seed):
    """Random hollow boxes (closed in 3-D) of many sizes and speckle, some at the border."""
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < 0.3
    for _ in range(12):
        lo = rng.integers(0, [s - 6 for s in shape])
        r = rng.integers(2, 6, size=3)
        box = tuple(slice(int(a), int(min(a + 2 * b + 1, s)))
                    for a, b, s in zip(lo, r, shape, strict=True))
        inner = tuple(slice(b.start + 1, b.stop - 1) for b in box)
        mask[box] = True
        mask[inner] = False
    return mask


@pytest.mark.parametrize("max_volume", [None, 0, 30, 200])
@pytest.mark.parametrize("seed", [0, 1])
def test_3d_holes_match_scipy_background_components(seed, max_volume):
    """Truth: scipy's 6-connected background components not touching the array's border,
    those of at most `max_volume` voxels (None: all) set."""
    shape = (30, 28, 24)
    mask = _cavities(shape, seed)
    lab, n = ndi.label(~mask)
    border = np.unique(np.concatenate([lab[0].ravel(), lab[-1].ravel(), lab[:, 0].ravel(),
                                       lab[:, -1].ravel(), lab[:, :, 0].ravel(),
                                       lab[:, :, -1].ravel()]))
    hole = np.ones(n + 1, dtype=bool)
    hole[0] = False
    hole[border] = False
    if max_volume is not None:
        hole &= np.bincount(lab.ravel(), minlength=n + 1) <= max_volume
    want = mask | hole[lab]
    assert np.array_equal(fill_holes_2d_3d(mask, max_hole_volume_vox=max_volume, two_d=False),
                          want)
    if max_volume is None:
        assert (want & ~mask).any()  # the volume has enclosed cavities
