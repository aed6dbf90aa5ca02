"""Box filters by shifted boolean passes against scipy's maximum and minimum filters."""

import itertools

import numpy as np
import pytest
from scipy import ndimage as ndi

from calcdx.masks._filters import ball_erosion, box_filter, window_filter_1d


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


def test_window_filter_on_packed_bits_filters_each_bit():
    """A uint8 array is filtered bit by bit: unpacked, it is the filter of the unpacked mask."""
    rng = np.random.default_rng(11)
    for shape, density in (((9, 7, 21), 0.3), ((12, 5, 8), 0.9), ((3, 2, 17), 0.5)):
        mask = rng.random(shape) < density
        packed = np.packbits(mask, axis=2)
        for axis, radius, op in itertools.product((0, 1), (1, 2, 4), ("max", "min")):
            got = np.unpackbits(window_filter_1d(packed, radius, axis, op), axis=2,
                                count=shape[2]).view(bool)
            assert np.array_equal(got, window_filter_1d(mask, radius, axis, op))


def test_box_filter_mixed_radii_equals_scipy():
    """Radii along the last axis and in-plane together (bits packed along the last axis)."""
    rng = np.random.default_rng(12)
    for shape in [(11, 9, 13), (6, 14, 8), (5, 5, 1), (17, 3, 30)]:
        mask = rng.random(shape) < 0.4
        for radius in [(2, 0, 3), (0, 1, 1), (3, 2, 0), (1, 4, 2)]:
            for op, scipy_filter in (("max", ndi.maximum_filter), ("min", ndi.minimum_filter)):
                ref = scipy_filter(mask.view(np.uint8), size=tuple(2 * r + 1 for r in radius)) > 0
                got = box_filter(mask, radius, op)
                assert got.dtype == bool and got.flags.writeable
                assert np.array_equal(got, ref), (shape, radius, op)


@pytest.mark.parametrize("shape", [(3, 4, 2), (9, 8, 7), (20, 21, 22), (40, 30, 5)])
@pytest.mark.parametrize("radius", [0.0, 1.0, 1.5, 2.0, 2.5, 3.2])
def test_ball_erosion_equals_distance_transform(shape, radius):
    """Farther than the radius from every outside voxel, as scipy's exact EDT says."""
    rng = np.random.default_rng(sum(shape))
    for smooth, share in ((0.0, 0.5), (1.5, 0.3), (1.5, 0.8)):
        x = rng.random(shape)
        if smooth:
            x = ndi.gaussian_filter(x, smooth)
        mask = x < np.quantile(x, share)
        assert not mask.all()
        expected = ndi.distance_transform_edt(mask) > radius
        assert np.array_equal(ball_erosion(mask, radius), expected)


def test_ball_erosion_by_hand():
    """A cube of 7 voxels a side: its central 3 x 3 x 3 lies over 2 voxels from the outside
    (3 or more); at the array's edge the outside of the array is no outside."""
    mask = np.zeros((9, 9, 9), dtype=bool)
    mask[1:8, 1:8, 1:8] = True
    expected = np.zeros_like(mask)
    expected[3:6, 3:6, 3:6] = True
    assert np.array_equal(ball_erosion(mask, 2.0), expected)
    slab = np.ones((5, 5, 3), dtype=bool)
    slab[:, :, 0] = False
    assert np.array_equal(ball_erosion(slab, 1.5), np.broadcast_to([False, False, True],
                                                                    slab.shape))
    assert np.array_equal(ball_erosion(mask, 0.0), mask)


def test_part_stats_equal_cc3d_statistics():
    """Counts and boxes of labelled parts from their voxels, as cc3d.statistics gives them."""
    import cc3d

    from calcdx.masks.bone import _part_stats

    rng = np.random.default_rng(5)
    for shape in [(9, 8, 7), (30, 21, 12), (4, 50, 3)]:
        mask = ndi.gaussian_filter(rng.random(shape), 1.0) > 0.5
        labels, n = cc3d.connected_components(mask, connectivity=26, return_N=True)
        at = np.flatnonzero(labels)
        counts, boxes = _part_stats(labels, int(n), at, labels.ravel()[at])
        expected = cc3d.statistics(labels)
        assert np.array_equal(counts, expected["voxel_counts"])
        assert boxes == list(expected["bounding_boxes"])


@pytest.mark.parametrize("threads", ["1", "2"])
def test_box_filter_in_halves_equals_scipy(monkeypatch, threads):
    """Large masks are filtered in two halves on two cores: still scipy's voxels."""
    import calcdx.masks._filters as filters

    monkeypatch.setenv("CALCDX_THREADS", threads)
    monkeypatch.setattr(filters, "_SPLIT_MIN_VOXELS", 8)
    rng = np.random.default_rng(5)
    for shape in [(1, 9, 4), (2, 1, 7), (9, 8, 7), (16, 3, 21)]:
        mask = rng.random(shape) < 0.3
        for arr in (mask, np.asfortranarray(mask)):
            for radius in [(1, 2, 0), (3, 0, 1), (2, 2, 2)]:
                for op, scipy_filter in (("max", ndi.maximum_filter),
                                         ("min", ndi.minimum_filter)):
                    ref = scipy_filter(arr.view(np.uint8),
                                       size=tuple(2 * r + 1 for r in radius)) > 0
                    assert np.array_equal(box_filter(arr, radius, op), ref), (shape, radius)


def test_ball_dilation_equals_thresholded_distance_transform():
    """Anisotropic steps (thin slices, non-round pixel sizes), radii on and off the grid."""
    from calcdx.masks._filters import ball_dilation

    rng = np.random.default_rng(11)
    steps = [0.1, 0.35, 0.5, 0.7, 0.7421875, 1.0, 1.5, 3.0]
    for _ in range(150):
        shape = tuple(int(x) for x in rng.integers(1, 20, 3))
        mask = rng.random(shape) < rng.uniform(0.002, 0.2)
        if not mask.any():
            mask[tuple(int(rng.integers(0, n)) for n in shape)] = True
        sampling = tuple(float(x) for x in rng.choice(steps, 3))
        radius = float(rng.choice([1.0, 2.0, 3.0, float(rng.uniform(0.2, 6.0))]))
        ref = ndi.distance_transform_edt(~mask, sampling=sampling) <= radius
        assert np.array_equal(ball_dilation(mask, sampling, radius), ref), (shape, sampling)


@pytest.mark.parametrize("spacing_xy", [(1.0, 1.0), (0.7, 0.7), (0.49, 0.8)])
@pytest.mark.parametrize("radius", [0.0, 1.0, 2.5, 6.0])
def test_disk_dilation_equals_slice_distance_transforms(spacing_xy, radius):
    """Within `radius` of a mask voxel of the same slice, as scipy's EDT of each slice says."""
    from calcdx.masks._filters import disk_dilation

    rng = np.random.default_rng(int(10 * radius) + int(100 * spacing_xy[1]))
    for shape, share in (((17, 23, 6), 0.01), ((30, 12, 4), 0.2), ((5, 40, 3), 0.05)):
        mask = rng.random(shape) < share
        mask[:, :, 0] = False  # a slice without mask voxels stays empty
        expected = np.zeros_like(mask)
        for k in range(1, shape[2]):
            if mask[:, :, k].any():
                expected[:, :, k] = ndi.distance_transform_edt(
                    ~mask[:, :, k], sampling=spacing_xy) <= radius
        assert np.array_equal(disk_dilation(mask, spacing_xy, radius), expected)


def test_disk_dilation_by_hand():
    """One voxel grown by a disk of 1.5 voxels: its 3 x 3 square less nothing (the
    diagonals lie at 1.41), and by 1.0 the cross of its four neighbours, in its slice only."""
    from calcdx.masks._filters import disk_dilation

    mask = np.zeros((7, 7, 3), dtype=bool)
    mask[3, 3, 1] = True
    square = np.zeros_like(mask)
    square[2:5, 2:5, 1] = True
    assert np.array_equal(disk_dilation(mask, (1.0, 1.0), 1.5), square)
    cross = np.zeros_like(mask)
    cross[2:5, 3, 1] = cross[3, 2:5, 1] = True
    assert np.array_equal(disk_dilation(mask, (1.0, 1.0), 1.0), cross)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_plane_holes_of_a_large_mask_equal_scipy_per_plane(axis):
    """Holes filled plane by plane on a grid past the one-call size (each plane read on
    the box of its mask voxels), as scipy's binary_fill_holes of each plane fills them."""
    from calcdx.masks.bone import _ONE_CALL_MAX_VOXELS, _fill_plane_holes

    rng = np.random.default_rng(axis)
    shape = (150, 120, 64)
    assert np.prod(shape) > _ONE_CALL_MAX_VOXELS
    x = ndi.gaussian_filter(rng.random(shape), 1.5)
    mask = (x > np.quantile(x, 0.6)) & (x < np.quantile(x, 0.85))
    mask[:40] = False  # planes with mask voxels in part of them only
    mask[:, :, :5] = False
    planes = np.moveaxis(mask, axis, 0)
    expected = np.stack([ndi.binary_fill_holes(p) for p in planes])
    got = np.moveaxis(_fill_plane_holes(mask, axis, None), axis, 0)
    assert np.array_equal(got, expected)
