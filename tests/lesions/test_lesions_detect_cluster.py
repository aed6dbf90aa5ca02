import numpy as np

from calcdx.analysis import AnalysisParameters, analyze_volume
from calcdx.lesions.cluster import cluster_lesions
from calcdx.lesions.detect import CONNECTIVITY
from calcdx.volume import Volume


def soft_tissue_block(shape=(64, 64, 32)):
    hu = np.full(shape, -1000, dtype=np.int16)
    hu[4:-4, 4:-4, :] = 40
    return hu


def test_corner_touching_voxels_are_one_lesion():
    assert CONNECTIVITY == 26
    hu = soft_tissue_block()
    hu[20:23, 20:23, 10:13] = 400
    hu[23:26, 23:26, 13:16] = 400  # touches the first cube only at a corner
    res = analyze_volume(Volume(hu, np.eye(4)))
    assert res.totals.n_lesions == 1
    assert res.lesions[0].volume_mm3 == 54.0


def test_min_volume_and_threshold_inclusive():
    hu = soft_tissue_block()
    hu[10, 10, 10] = 500  # 1 mm^3: below the default 1.5 mm^3
    hu[30:32, 30, 10] = 130  # 2 mm^3 exactly at threshold: kept (>=)
    hu[40:42, 40, 10] = 129  # below threshold
    res = analyze_volume(Volume(hu, np.eye(4)))
    assert res.totals.n_lesions == 1
    assert res.lesions[0].peak_hu == 130
    res0 = analyze_volume(Volume(hu, np.eye(4)), AnalysisParameters(min_volume_mm3=0.5))
    assert res0.totals.n_lesions == 2


def test_clusters_group_fragments_and_keep_ids():
    hu = soft_tissue_block()
    for i in range(4):  # four grains 6 mm apart (gap 4 mm)
        hu[14 + 6 * i : 16 + 6 * i, 20:26, 10:12] = 350
    hu[50:52, 50:52, 25:27] = 350  # far away, solitary
    res = analyze_volume(Volume(hu, np.eye(4)))
    assert res.totals.n_lesions == 5
    assert len(res.clusters) == 1
    cluster = res.clusters[0]
    assert len(cluster.lesion_ids) == 4
    assert cluster.statistics.n_lesions == 4
    assert all(res.lesions[i - 1].cluster_id == 1 for i in cluster.lesion_ids)
    solitary = [les for les in res.lesions if les.cluster_id is None]
    assert len(solitary) == 1
    res_tight = analyze_volume(Volume(hu, np.eye(4)), AnalysisParameters(cluster_distance_mm=3.0))
    assert res_tight.clusters == []


def test_cluster_lesions_single_linkage():
    pts = [np.array([[0.0, 0, 0]]), np.array([[8.0, 0, 0]]), np.array([[16.0, 0, 0]]),
           np.array([[40.0, 0, 0]])]
    groups = cluster_lesions(pts, distance_mm=10.0)
    assert groups[0] == groups[1] == groups[2] != groups[3]


def test_cluster_lesions_equals_brute_force_single_linkage():
    """Groups as single linkage over every pair's least point distance gives them."""
    rng = np.random.default_rng(8)
    for _ in range(20):
        sets = [rng.normal(rng.uniform(0, 80, 3), rng.uniform(0.5, 6),
                           (int(rng.integers(1, 60)), 3))
                for _ in range(int(rng.integers(2, 15)))]
        n = len(sets)
        parent = list(range(n))

        def root(i: int, parent: list[int] = parent) -> int:
            while parent[i] != i:
                i = parent[i]
            return i

        for a in range(n):
            for b in range(a + 1, n):
                d = np.sqrt(((sets[a][:, None] - sets[b][None]) ** 2).sum(axis=2)).min()
                if d < 10.0:
                    parent[root(b)] = root(a)
        groups = cluster_lesions(sets, distance_mm=10.0)
        for a in range(n):
            for b in range(n):
                assert (groups[a] == groups[b]) == (root(a) == root(b))
