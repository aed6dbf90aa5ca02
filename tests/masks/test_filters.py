"""Box filters by shifted boolean passes against scipy's maximum and minimum filters."""

import itertools

import numpy as np
import pytest
from scipy import ndimage as ndi

from calcdx.masks._filters import box_filter, window_filter_1d


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 3, 1), (5, 4, 3), (7, 1, 9), (13, 17, 4),
                                   (30, 31, 5)])
@pytest.mark.parametrize("density", [0.05, 0.5, 0.95])
def test_box_filter_equals_scipy(shape, density):
    """Every voxel as scipy gives it (default reflect mode), edges and tiny axes included."""
    mask = np.random.default_rng(len(shape) + int(100 * density)).random(shape) < density
    for (ri, rj), op in itertools.product(itertools.product(range(6), range(6)), ("max", "min")):
        scipy_filter = ndi.maximum_filter if op == "max" else ndi.minimum_filter
        for arr in (mask, np.asfortranarray(mask), mask[:, ::-1]):
            ref = scipy_filter(arr.view(np.uint8), size=(2 * ri + 1, 2 * rj + 1, 1)) > 0
            got = box_filter(arr, (ri, rj, 0), op)
            assert got.dtype == bool
            assert np.array_equal(got, ref), (ri, rj, op)
    for op in ("max", "min"):
        scipy_filter = ndi.maximum_filter if op == "max" else ndi.minimum_filter
        assert np.array_equal(box_filter(mask, (1, 1, 1), op),
                              scipy_filter(mask.view(np.uint8), size=3) > 0)


def test_window_filter_by_hand():
    """A 1-D run by hand: a lone voxel grows by the radius, cut at the edges; AND shrinks."""
    x = np.zeros(10, dtype=bool)
    x[[0, 6]] = True
    assert np.flatnonzero(window_filter_1d(x, 2, 0, "max")).tolist() == [0, 1, 2, 4, 5, 6, 7, 8]
    y = np.ones(10, dtype=bool)
    y[4] = False
    assert np.flatnonzero(~window_filter_1d(y, 1, 0, "min")).tolist() == [3, 4, 5]
    assert window_filter_1d(x, 0, 0, "max") is x
    assert not np.shares_memory(window_filter_1d(x, 1, 0, "max"), x)
