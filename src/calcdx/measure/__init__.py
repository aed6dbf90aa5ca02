"""Per-lesion and per-cluster measurements: Agatston-style score, mass, shape, context."""

from calcdx.measure.agatston import agatston_rules, agatston_score, density_weight, mass_score
from calcdx.measure.context import ClusterStatistics, LesionContext, cluster_statistics
from calcdx.measure.shape import ShapeMeasures, measure_shape

__all__ = [
    "ClusterStatistics",
    "LesionContext",
    "ShapeMeasures",
    "agatston_rules",
    "agatston_score",
    "cluster_statistics",
    "density_weight",
    "mass_score",
    "measure_shape",
]
