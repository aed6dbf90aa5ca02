"""Binary box filters on boolean masks, by shifted logical passes.

A binary dilation (erosion) by a box is a running OR (AND) along each of its
axes. Each pass here is built by doubling: the OR of windows of 1, 2, 4, ...
voxels, then two overlapping windows of the largest power give the full
window, so a window of ``2 r + 1`` voxels costs about ``log2(2 r + 1) + 1``
whole-array boolean operations instead of a per-voxel filter over a uint8
copy. At the array's edge the window is cut (only voxels inside the array
count), which is what :func:`scipy.ndimage.maximum_filter` and
:func:`~scipy.ndimage.minimum_filter` give with their default ``reflect``
mode (the mirrored voxels lie inside the cut window), so results are the
same voxel for voxel. Windows across the last axis run on the mask's bits
packed along that axis (:func:`numpy.packbits`, eight voxels a byte), as
bitwise passes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcdx._threads import n_threads, run_both

__all__ = ["ball_dilation", "ball_erosion", "box_filter", "disk_dilation", "window_filter_1d"]


def _sl(ndim: int, axis: int, start: int | None, stop: int | None) -> tuple[slice, ...]:
    index = [slice(None)] * ndim
    index[axis] = slice(start, stop)
    return tuple(index)


def window_filter_1d(mask: NDArray[Any], radius: int, axis: int, op: str,
                     out: NDArray[Any] | None = None) -> NDArray[Any]:
    """Running OR (``op="max"``) or AND (``"min"``) over ``2 radius + 1`` voxels along `axis`.

    Parameters
    ----------
    mask : ndarray of bool, or of uint8
        A uint8 array is taken as bits (:func:`numpy.packbits` along another axis):
        each bit is filtered on its own.
    radius : int
        Half-width of the window in voxels (0: `mask` unchanged).
    axis : int
    op : {"max", "min"}
    out : ndarray of bool, optional
        Written with the result when given (the shape of `mask`, not overlapping it).

    Returns
    -------
    ndarray of `mask`'s dtype
        ``out[..., i, ...]`` is the OR (AND) of `mask` over ``i - radius .. i + radius``
        along `axis`, cut at the array's edge; a new array or `out` (`mask` itself
        when `radius` is 0).
    """
    if radius <= 0:
        return mask
    # bitwise ops: on bool the logical ones (and faster), on bit-packed uint8 per bit
    f: Any = np.bitwise_or if op == "max" else np.bitwise_and
    reduce: Any = f.reduce
    nd, n = mask.ndim, mask.shape[axis]
    width = 2 * radius + 1

    def sl(start: int | None, stop: int | None) -> tuple[slice, ...]:
        return _sl(nd, axis, start, stop)

    if out is None:
        out = np.empty(mask.shape, dtype=mask.dtype)
    if n > width:
        # y[i] = op(mask[i .. min(i + w, n) - 1]): windows of w = 2, 4, ... voxels, the
        # first read from `mask` itself, then between two buffers.
        y: NDArray[Any] = mask
        spare: list[NDArray[Any]] = [np.empty_like(out), np.empty_like(out)]
        w = 1
        while 2 * w <= width:
            nxt = spare.pop()
            f(y[sl(0, n - w)], y[sl(w, n)], out=nxt[sl(0, n - w)])
            nxt[sl(n - w, n)] = y[sl(n - w, n)]
            if y is not mask:
                spare.append(y)
            y, w = nxt, 2 * w
        # Two overlapping windows of w (d = width - w apart, 0 < d < w) make one of width,
        # written centred: out[i] = op(mask[i - radius .. i + radius]) for i >= radius
        # (every such window ends inside the array, as n > width).
        d = width - w
        f(y[sl(0, n - radius)], y[sl(d, d + n - radius)], out=out[sl(radius, n)])
    else:
        # A window as long as the axis: every voxel sees the cut window, from a running
        # op over the voxels from each end.
        for i in range(radius, n):
            out[sl(i, i + 1)] = reduce(mask[sl(i - radius, min(i + radius + 1, n))], axis=axis,
                                       keepdims=True)
    # The first `radius` voxels: the window cut at the start, op(mask[0 .. i + radius]).
    head = min(radius, n)
    acc = reduce(mask[sl(0, min(radius + 1, n))], axis=axis, keepdims=True)
    for i in range(head):
        if i and i + radius < n:
            f(acc, mask[sl(i + radius, i + radius + 1)], out=acc)
        out[sl(i, i + 1)] = acc
    return out


def box_filter(mask: NDArray[np.bool_], radius_vox: tuple[int, ...], op: str
               ) -> NDArray[np.bool_]:
    """Binary dilation (``op="max"``) or erosion (``"min"``) by a box of half-widths `radius_vox`.

    Parameters
    ----------
    mask : ndarray of bool
    radius_vox : tuple of int
        Half-width (voxels) along each axis, in order (missing trailing axes: 0).
    op : {"max", "min"}

    Returns
    -------
    ndarray of bool
        The same voxels as ``scipy.ndimage.maximum_filter`` (``minimum_filter``) of
        `mask` with ``size = 2 radius_vox + 1`` and its default mode; `mask`
        itself when every radius is 0.
    """
    radii = [int(r) for r in radius_vox] + [0] * (mask.ndim - len(radius_vox))
    last = mask.ndim - 1
    if last < 1 or mask.dtype != np.bool_ or not any(radii[:last]):
        out = mask
        for axis, r in enumerate(radii):
            out = _window_in_halves(out, r, axis, op)
        return out
    # The windows commute (a box is the product of its axes' windows): along the last
    # axis first on the mask, then along the others on its bits packed along the last
    # axis (eight voxels a byte; the padding bits are never read back).
    out = _window_in_halves(mask, radii[last], last, op)
    packed = np.packbits(out, axis=last)
    for axis in range(last):
        packed = window_filter_1d(packed, radii[axis], axis, op)
    return np.unpackbits(packed, axis=last, count=mask.shape[last]).view(np.bool_)


#: Masks of at least this many voxels are filtered in two halves at once (two cores).
_SPLIT_MIN_VOXELS = 1 << 22


def _window_in_halves(mask: NDArray[np.bool_], radius: int, axis: int, op: str
                      ) -> NDArray[np.bool_]:
    """:func:`window_filter_1d`, a large mask's two halves across another axis on two cores.

    A window along `axis` never reads across the other axes, so each half's
    result is the whole result there: the same voxels (:mod:`calcdx._threads`).
    """
    if radius <= 0 or mask.size < _SPLIT_MIN_VOXELS or n_threads() < 2:
        return window_filter_1d(mask, radius, axis, op)
    across = 0 if axis != 0 else 1
    half = mask.shape[across] // 2
    if half == 0:
        return window_filter_1d(mask, radius, axis, op)
    out = np.empty(mask.shape, dtype=bool)
    first, second = _sl(mask.ndim, across, 0, half), _sl(mask.ndim, across, half, None)
    run_both(lambda: window_filter_1d(mask[first], radius, axis, op, out=out[first]),
             lambda: window_filter_1d(mask[second], radius, axis, op, out=out[second]))
    return out


def ball_erosion(mask: NDArray[np.bool_], radius_vox: float) -> NDArray[np.bool_]:
    """Voxels of a 3-D `mask` farther than `radius_vox` from every voxel outside it.

    Distances are Euclidean between voxel centres, in voxels; outside the array
    counts as inside the mask. Where `mask` holds a False voxel this is
    ``scipy.ndimage.distance_transform_edt(mask) > radius_vox`` voxel for voxel
    (the same distances, ``sqrt(di^2 + dj^2 + dk^2)``, compared the same way),
    found as an erosion by the ball: per in-plane offset ``(di, dj)`` of the
    ball, a running AND along axis 2 over the ball's height there, shifted.

    Parameters
    ----------
    mask : (I, J, K) ndarray of bool
    radius_vox : float
        Ball radius in voxels (>= 0).

    Returns
    -------
    (I, J, K) ndarray of bool
    """
    reach = math.floor(radius_vox)
    heights: dict[tuple[int, int], int] = {}
    for di in range(-reach, reach + 1):
        for dj in range(-reach, reach + 1):
            if math.sqrt(float(di * di + dj * dj)) > radius_vox:
                continue
            h = 0
            while math.sqrt(float(di * di + dj * dj + (h + 1) * (h + 1))) <= radius_vox:
                h += 1
            heights[(di, dj)] = h
    return _ball_pass(mask, heights, "min")


def _ball_pass(mask: NDArray[np.bool_], heights: dict[tuple[int, int], int], op: str
               ) -> NDArray[np.bool_]:
    """AND (``op="min"``) or OR (``"max"``) of `mask` over a ball given by its heights.

    ``heights[(di, dj)]`` is the ball's half-height along axis 2 at in-plane offset
    ``(di, dj)``: ``out[i, j, k]`` combines `mask` at ``(i + di, j + dj, k + dk)``
    for ``|dk| <= h``, offsets leaving the grid skipped (the running op along axis
    2 is cut at the edge as in :func:`window_filter_1d`).
    """
    out = np.array(mask, dtype=bool, copy=True)
    f: Any = np.bitwise_and if op == "min" else np.bitwise_or
    along: dict[int, NDArray[np.bool_]] = {}
    ni, nj = mask.shape[0], mask.shape[1]
    for (di, dj), h in heights.items():
        if h not in along:
            along[h] = window_filter_1d(mask, h, 2, op)
        z = along[h]
        a0, b0 = max(0, -di), min(ni, ni - di)
        a1, b1 = max(0, -dj), min(nj, nj - dj)
        if a0 < b0 and a1 < b1:
            f(out[a0:b0, a1:b1], z[a0 + di:b0 + di, a1 + dj:b1 + dj], out=out[a0:b0, a1:b1])
    return out


def ball_dilation(mask: NDArray[np.bool_], sampling: tuple[float, float, float],
                  radius: float) -> NDArray[np.bool_]:
    """Voxels of a 3-D grid within `radius` of a voxel of `mask` (distances scaled by `sampling`).

    Where `mask` holds a True voxel this is
    ``scipy.ndimage.distance_transform_edt(~mask, sampling=sampling) <= radius``
    voxel for voxel: the distance of an offset ``(di, dj, dk)`` is computed as
    scipy computes it, ``sqrt((di s0)^2 + (dj s1)^2 + (dk s2)^2)`` in float64 and in
    that order, and a voxel is near when the nearest voxel of `mask` is. Found as a
    dilation by that ball: per in-plane offset of the ball, a running OR along
    axis 2 over the ball's height there, shifted (no distance array).

    Parameters
    ----------
    mask : (I, J, K) ndarray of bool
    sampling : tuple of 3 float
        Grid step along each axis (e.g. mm).
    radius : float
        In the units of `sampling` (>= 0).

    Returns
    -------
    (I, J, K) ndarray of bool
    """
    s0, s1, s2 = (float(s) for s in sampling)

    def dist(di: int, dj: int, dk: int) -> float:
        a, b, c = di * s0, dj * s1, dk * s2
        return math.sqrt(a * a + b * b + c * c)

    ni, nj, nk = mask.shape
    reach_i, reach_j = math.floor(radius / s0) + 1, math.floor(radius / s1) + 1
    heights: dict[tuple[int, int], int] = {}
    for di in range(-min(reach_i, ni - 1), min(reach_i, ni - 1) + 1):
        for dj in range(-min(reach_j, nj - 1), min(reach_j, nj - 1) + 1):
            if dist(di, dj, 0) <= radius:
                h = 0
                while h < nk - 1 and dist(di, dj, h + 1) <= radius:
                    h += 1
                heights[(di, dj)] = h
    return _ball_pass(mask, heights, "max")


def disk_dilation(mask: NDArray[np.bool_], spacing_xy: tuple[float, float],
                  radius: float) -> NDArray[np.bool_]:
    """`mask` dilated slice by slice (planes normal to axis 2) by a disk of `radius`.

    Where a slice holds a True voxel this is, on it,
    ``scipy.ndimage.distance_transform_edt(~slice, sampling=spacing_xy) <= radius``
    voxel for voxel: the distance of an in-plane offset ``(di, dj)`` is computed
    as scipy computes it, ``sqrt((di s0)^2 + (dj s1)^2)`` in float64. The disk's
    row at ``di`` spans ``|dj| <= h(di)``, so the dilation is, per row, a running
    OR along axis 1 of that half-width (:func:`window_filter_1d`), shifted along
    axis 0: one pass per row instead of one per offset or a transform per slice.

    Parameters
    ----------
    mask : (I, J, K) ndarray of bool
    spacing_xy : tuple of 2 float
        Grid step along axes 0 and 1 (e.g. mm).
    radius : float
        In the units of `spacing_xy` (>= 0).

    Returns
    -------
    (I, J, K) ndarray of bool
    """
    s0, s1 = (float(s) for s in spacing_xy)

    def dist(di: int, dj: int) -> float:
        a, b = di * s0, dj * s1
        return math.sqrt(a * a + b * b)

    ni, nj = mask.shape[0], mask.shape[1]
    out = np.zeros(mask.shape, dtype=bool)
    rows: dict[int, NDArray[np.bool_]] = {}
    for di in range(-min(math.floor(radius / s0) + 1, ni - 1),
                    min(math.floor(radius / s0) + 1, ni - 1) + 1):
        if dist(di, 0) > radius:
            continue
        h = 0
        while h < nj - 1 and dist(di, h + 1) <= radius:
            h += 1
        if h not in rows:
            rows[h] = window_filter_1d(mask, h, 1, "max")
        z = rows[h]
        a0, b0 = max(0, -di), min(ni, ni - di)
        if a0 < b0:
            np.bitwise_or(out[a0:b0], z[a0 + di:b0 + di], out=out[a0:b0])
    return out
