"""What is not a soft-tissue calcification: body, skeleton, metal and contrast masks."""

from calcdx.masks.body import BodyMask, body_mask, compute_body
from calcdx.masks.bone import BoneConfig, BoneResult, bone_mask, fill_holes_2d_3d
from calcdx.masks.exclusions import (
    ComponentDensity,
    ContrastAssessment,
    ContrastRegion,
    MetalObject,
    MetalResult,
    assess_contrast,
    density_summary,
    find_metal,
)
from calcdx.masks.grid import CoarseGrid, coarse_grid

__all__ = [
    "BodyMask",
    "BoneConfig",
    "BoneResult",
    "CoarseGrid",
    "ComponentDensity",
    "ContrastAssessment",
    "ContrastRegion",
    "MetalObject",
    "MetalResult",
    "assess_contrast",
    "body_mask",
    "bone_mask",
    "coarse_grid",
    "compute_body",
    "density_summary",
    "fill_holes_2d_3d",
    "find_metal",
]
