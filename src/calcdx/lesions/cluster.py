"""Grouping nearby fragments into clusters (rice grains, lobules, dot clouds).

Two lesions belong to the same cluster when the distance between their
nearest voxel centres is at most ``distance_mm`` (default 10 mm); clusters are
the connected components of that relation (single linkage). Each fragment
stays a lesion with its own id; a cluster lists its lesions' ids. Lesions with
no neighbour within the distance are solitary and belong to no cluster.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict
from scipy.spatial import cKDTree

__all__ = ["Cluster", "cluster_lesions", "surface_voxels"]


class Cluster(BaseModel):
    """A group of two or more nearby lesions."""

    model_config = ConfigDict(frozen=True)

    id: int
    lesion_ids: tuple[int, ...]


def surface_voxels(ijk: NDArray[np.integer[Any]]) -> NDArray[np.integer[Any]]:
    """Voxels of a set with at least one 6-neighbour outside it.

    Parameters
    ----------
    ijk : (N, 3) ndarray of int

    Returns
    -------
    (M, 3) ndarray of int
        The boundary voxels (all voxels when the set is thin).
    """
    if len(ijk) <= 64:
        return ijk
    lo = ijk.min(axis=0) - 1
    local = (ijk - lo).astype(np.intp)
    grid = np.zeros(tuple(int(s) for s in local.max(axis=0) + 2), dtype=bool)
    grid[local[:, 0], local[:, 1], local[:, 2]] = True
    interior = grid.copy()
    for axis in range(3):
        interior &= np.roll(grid, 1, axis=axis) & np.roll(grid, -1, axis=axis)
    keep = ~interior[local[:, 0], local[:, 1], local[:, 2]]
    return np.asarray(ijk[keep])


def cluster_lesions(
    points_mm: list[NDArray[np.float64]],
    *,
    distance_mm: float = 10.0,
) -> NDArray[np.intp]:
    """Single-linkage grouping of point sets.

    Parameters
    ----------
    points_mm : list of (N_i, 3) ndarray of float
        For each lesion, world coordinates (mm) of its (surface) voxels.
    distance_mm : float
        Maximum nearest-voxel distance between two lesions of one cluster.

    Returns
    -------
    (L,) ndarray of intp
        Group index per lesion (0-based; lesions of one group share it).
    """
    n = len(points_mm)
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    lo = np.array([p.min(axis=0) for p in points_mm]) - distance_mm / 2
    hi = np.array([p.max(axis=0) for p in points_mm]) + distance_mm / 2
    # Union-find over lesions: a pair already joined through others needs no
    # distance query (single linkage only asks whether two lesions connect).
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    trees: dict[int, cKDTree] = {}
    for a in range(n):
        overlap = np.all((lo[a + 1 :] <= hi[a]) & (hi[a + 1 :] >= lo[a]), axis=1)
        for b in np.flatnonzero(overlap) + a + 1:
            ra, rb = root(a), root(int(b))
            if ra == rb:
                continue
            # only points of `a` within distance_mm of b's points' box can lie that near
            # b (lo and hi hold half of it: a margin of one more distance_mm, never short)
            pa = points_mm[a]
            near = np.all((pa >= lo[b] - distance_mm) & (pa <= hi[b] + distance_mm), axis=1)
            if not near.any():
                continue
            if int(b) not in trees:
                trees[int(b)] = cKDTree(points_mm[b])
            dist, _ = trees[int(b)].query(pa[near], k=1, distance_upper_bound=distance_mm)
            if np.any(np.isfinite(dist)):
                parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([root(i) for i in range(n)])
    # Groups numbered in order of their first lesion.
    _, groups = np.unique(roots, return_inverse=True)
    return np.asarray(groups, dtype=np.intp)
