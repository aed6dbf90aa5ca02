"""Rigid (optionally affine) registration of a follow-up CT onto its baseline (SimpleITK).

Both volumes enter as HU arrays with their voxel-to-patient affines; the result is a 4 x 4
matrix mapping baseline patient coordinates (mm) to follow-up patient coordinates, the
convention of ITK's registration (fixed = baseline, moving = follow-up).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from calcdx.errors import StudyError

__all__ = ["RegistrationConfig", "RegistrationResult", "register", "resample_onto", "to_image"]


class RegistrationConfig(BaseModel):
    """Settings of :func:`register`; each value's basis is stated.

    Attributes
    ----------
    kind : {"rigid", "affine"}
        Rigid (6 degrees of freedom: the usual model for one patient's CT over time, bone
        being rigid) or affine (12; for posture or scanner-calibration differences).
    window_hu : tuple of 2 float
        HU clipped to this range before matching: soft tissue to cortical bone, so metal
        and streaks do not dominate (heuristic).
    histogram_bins : int
        Mattes mutual information bins (50: the value of ITK's examples).
    sampling_fraction : float
        Fraction of voxels sampled per iteration (ITK's examples use 1-20 %).
    shrink_factors, smoothing_sigmas_mm : tuple of int, tuple of float
        Multi-resolution pyramid (coarse to fine), as in ITK's registration examples.
    iterations : int
        Optimizer iterations per level.
    seed : int
        Sampling seed, for reproducible results.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["rigid", "affine"] = "rigid"
    window_hu: tuple[float, float] = (-200.0, 1500.0)
    histogram_bins: int = Field(50, ge=8)
    sampling_fraction: float = Field(0.1, gt=0, le=1)
    shrink_factors: tuple[int, ...] = (4, 2, 1)
    smoothing_sigmas_mm: tuple[float, ...] = (4.0, 2.0, 0.0)
    iterations: int = Field(200, ge=1)
    seed: int = 7


class RegistrationResult(BaseModel):
    """Outcome of :func:`register`.

    Attributes
    ----------
    baseline_to_followup : list of list of float
        4 x 4 matrix: baseline patient mm -> follow-up patient mm.
    kind : str
    metric : float
        Final Mattes mutual information (more negative is better).
    rotation_deg : float
        Rotation angle of the linear part (rigid) or of its closest rotation (affine).
    translation_mm : tuple of 3 float
    stop_condition : str
    """

    model_config = ConfigDict(frozen=True)

    baseline_to_followup: list[list[float]]
    kind: str
    metric: float
    rotation_deg: float
    translation_mm: tuple[float, float, float]
    stop_condition: str

    def matrix(self) -> NDArray[np.float64]:
        """The 4 x 4 baseline -> follow-up matrix as an array."""
        return np.asarray(self.baseline_to_followup, dtype=np.float64)


def to_image(array: NDArray[Any], affine: NDArray[np.float64]) -> Any:
    """A SimpleITK image of an (I, J, K) array on the grid of a voxel-to-patient affine."""
    import SimpleITK as sitk

    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(array).transpose(2, 1, 0)))
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(v) for v in affine[:3, 3]])
    image.SetDirection([float(v) for v in (affine[:3, :3] / spacing).ravel()])
    return image


def _matrix(transform: Any) -> NDArray[np.float64]:
    """4 x 4 matrix of an ITK matrix-offset transform (maps fixed to moving points)."""
    linear = np.asarray(transform.GetMatrix(), dtype=np.float64).reshape(3, 3)
    out = np.eye(4)
    out[:3, :3] = linear
    out[:3, 3] = np.asarray(transform.GetTranslation()) + np.asarray(transform.GetCenter()) \
        - linear @ np.asarray(transform.GetCenter())
    return out


def _itk_transform(matrix: NDArray[np.float64]) -> Any:
    import SimpleITK as sitk

    transform = sitk.AffineTransform(3)
    transform.SetMatrix([float(v) for v in matrix[:3, :3].ravel()])
    transform.SetTranslation([float(v) for v in matrix[:3, 3]])
    return transform


def register(
    baseline_hu: NDArray[Any], baseline_affine: NDArray[np.float64],
    followup_hu: NDArray[Any], followup_affine: NDArray[np.float64],
    *, config: RegistrationConfig | None = None,
) -> RegistrationResult:
    """Register the follow-up onto the baseline.

    Parameters
    ----------
    baseline_hu, followup_hu : (I, J, K) ndarray
        CT values in HU.
    baseline_affine, followup_affine : (4, 4) ndarray
        Voxel index -> patient mm.
    config : RegistrationConfig, optional

    Returns
    -------
    RegistrationResult

    Raises
    ------
    StudyError
        If the optimiser fails (for example, volumes that do not overlap).
    """
    import SimpleITK as sitk

    config = config or RegistrationConfig()
    low, high = config.window_hu
    fixed = to_image(np.clip(baseline_hu, low, high).astype(np.float32), baseline_affine)
    moving = to_image(np.clip(followup_hu, low, high).astype(np.float32), followup_affine)
    base = sitk.Euler3DTransform() if config.kind == "rigid" else sitk.AffineTransform(3)
    initial = sitk.CenteredTransformInitializer(
        fixed, moving, base, sitk.CenteredTransformInitializerFilter.MOMENTS)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=config.histogram_bins)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(config.sampling_fraction, config.seed)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=1e-4, numberOfIterations=config.iterations,
        relaxationFactor=0.6)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(config.shrink_factors))
    method.SetSmoothingSigmasPerLevel(list(config.smoothing_sigmas_mm))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(initial, inPlace=False)
    try:
        final = method.Execute(fixed, moving)
    except RuntimeError as exc:
        raise StudyError(
            f"registration failed ({' '.join(str(exc).split())[:200]}); check that both scans "
            "cover the same anatomy"
        ) from None
    if hasattr(final, "GetNthTransform") and final.GetNumberOfTransforms() == 1:
        final = final.GetNthTransform(0)
    concrete = sitk.AffineTransform(3) if config.kind == "affine" else sitk.Euler3DTransform()
    concrete.SetParameters(final.GetParameters())
    concrete.SetFixedParameters(final.GetFixedParameters())
    matrix = _matrix(concrete)
    u, _, vt = np.linalg.svd(matrix[:3, :3])
    rotation = u @ vt
    angle = float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1) / 2, -1.0, 1.0))))
    return RegistrationResult(
        baseline_to_followup=matrix.tolist(),
        kind=config.kind,
        metric=float(method.GetMetricValue()),
        rotation_deg=angle,
        translation_mm=(float(matrix[0, 3]), float(matrix[1, 3]), float(matrix[2, 3])),
        stop_condition=method.GetOptimizerStopConditionDescription(),
    )


def resample_onto(
    array: NDArray[Any], affine: NDArray[np.float64],
    target_shape: tuple[int, int, int], target_affine: NDArray[np.float64],
    baseline_to_followup: NDArray[np.float64], *, labels: bool = False,
    fill: float = -1024.0,
) -> NDArray[Any]:
    """Resample a follow-up array onto the baseline grid through the registration.

    Parameters
    ----------
    array : (I, J, K) ndarray
        Follow-up values (HU, or a label map when ``labels``).
    affine : (4, 4) ndarray
        Follow-up voxel -> patient mm.
    target_shape, target_affine
        The baseline grid.
    baseline_to_followup : (4, 4) ndarray
        From :func:`register`.
    labels : bool
        Nearest-neighbour interpolation (labels) instead of linear (HU).
    fill : float
        Value outside the follow-up's field of view (0 for labels).

    Returns
    -------
    (I, J, K) ndarray on the baseline grid (int32 labels or float32 HU).
    """
    import SimpleITK as sitk

    moving = to_image(array.astype(np.int32 if labels else np.float32), affine)
    reference = to_image(np.zeros(target_shape, dtype=np.uint8), target_affine)
    out = sitk.Resample(
        moving, reference, _itk_transform(baseline_to_followup),
        sitk.sitkNearestNeighbor if labels else sitk.sitkLinear,
        0.0 if labels else fill,
        sitk.sitkInt32 if labels else sitk.sitkFloat32,
    )
    return np.asarray(sitk.GetArrayFromImage(out)).transpose(2, 1, 0)
