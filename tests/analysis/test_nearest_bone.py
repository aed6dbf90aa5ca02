"""The lesion-to-bone distance: the bounded nearest-point search against a brute force."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from calcdx.analysis import _nearest_mm


def test_nearest_matches_brute_force_minimum() -> None:
    rng = np.random.default_rng(3)
    for n_points in (1, 5, 200, 3000):
        bone = rng.uniform(0, 50, size=(4000, 3)) * np.array([0.7, 0.7, 0.1])
        points = rng.uniform(20, 30, size=(n_points, 3)) * np.array([0.7, 0.7, 0.1])
        brute = np.sqrt(((points[:, None, :] - bone[None, :, :]) ** 2).sum(axis=2)).min()
        tree = cKDTree(bone, balanced_tree=False, compact_nodes=False)
        assert _nearest_mm(tree, points) == float(np.min(tree.query(points, k=1)[0]))
        assert abs(_nearest_mm(tree, points) - brute) < 1e-9


def test_nearest_on_a_grid_with_ties() -> None:
    # voxel centres on a grid: many points at exactly the least distance
    grid = np.stack(np.meshgrid(np.arange(10), np.arange(10), np.arange(3), indexing="ij"),
                    axis=-1).reshape(-1, 3).astype(float)
    tree = cKDTree(grid * 0.5)
    points = (grid[:, :] + np.array([0, 0, 5])) * 0.5
    assert _nearest_mm(tree, points) == 1.5
