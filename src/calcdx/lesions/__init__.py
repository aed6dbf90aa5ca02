"""Detection of mineral deposits and their grouping into clusters."""

from calcdx.lesions.cluster import Cluster, cluster_lesions
from calcdx.lesions.detect import CONNECTIVITY, Detection, LesionVoxels, detect_lesions

__all__ = [
    "CONNECTIVITY",
    "Cluster",
    "Detection",
    "LesionVoxels",
    "cluster_lesions",
    "detect_lesions",
]
