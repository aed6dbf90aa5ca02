"""Anatomy from TotalSegmentator: bone, vessels and organs on the CT grid."""

from calcdx.anatomy.classes import Structure, structure_of, total_classes
from calcdx.anatomy.labels import AnatomyHit, AnatomyLabels, load_anatomy, resample_labels

__all__ = [
    "AnatomyHit",
    "AnatomyLabels",
    "Structure",
    "load_anatomy",
    "resample_labels",
    "structure_of",
    "total_classes",
]
