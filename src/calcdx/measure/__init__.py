"""Per-lesion and per-cluster measurements: Agatston-style score, mass, shape, context.

Also :mod:`calcdx.measure.vessel`: vessel walls recognised without contrast.
"""

from calcdx.measure.agatston import agatston_rules, agatston_score, density_weight, mass_score
from calcdx.measure.context import ClusterStatistics, LesionContext, cluster_statistics
from calcdx.measure.shape import ShapeMeasures, measure_shape
from calcdx.measure.vessel import VesselRules, VesselWall, find_vessel_walls

__all__ = [
    "ClusterStatistics",
    "LesionContext",
    "ShapeMeasures",
    "VesselRules",
    "VesselWall",
    "agatston_rules",
    "agatston_score",
    "cluster_statistics",
    "density_weight",
    "find_vessel_walls",
    "mass_score",
    "measure_shape",
]
