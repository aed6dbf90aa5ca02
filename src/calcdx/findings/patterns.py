"""A simple, explainable pattern guess from the measurements.

Each call names a case-format ``pattern`` value and the measurement evidence.
The thresholds are heuristics of this module (not published cut-offs):

Lesion rules
    * ``patchy_plaque``: plaque found at an enhancing lumen (contrast CT), or a
      plate-like lesion on the wall of a tube found without contrast: nearby
      thin plates whose pooled voxels lie on one circle of radius 2-20 mm (RMS
      residual <= 1 mm and <= 15 % of the radius, the arc bowing >= 1.5 mm but
      not closed, <= 270 degrees) around a lumen of blood density (0-100 HU; >=
      150 HU on contrast CT); see :mod:`calcdx.measure.vessel`. Moderate
      confidence. A plaque gets this call alone: its plate shape is the
      plaque's, and ``sheet_like`` or ``linear`` would point to other diseases.
    * ``tram_track``: the same vessel wall calcified all round (a closed ring,
      > 270 degrees, of radius >= 3.5 mm spanning at least its radius along the
      slices): the two parallel lines a radiograph shows of such a wall.
    * ``punctate``: volume < 30 mm^3 and not elongated (elongation >= 0.5).
    * ``lucent_centre_round``: roundish (elongation >= 0.6, flatness >= 0.5),
      <= 1000 mm^3, with a lucent centre (hollow fraction >= 0.05 or core at
      least 100 HU below rim).
    * ``fluid_calcium_level``: dependent half >= 150 HU denser than the
      non-dependent half with hollow fraction >= 0.2.
    * ``zonal_peripheral``: >= 200 mm^3, rim >= 100 HU denser than core (or
      rim/core ratio >= 1.5), not small-and-round.
    * ``serpiginous_coiled``: elongation < 0.5 and tortuosity >= 1.3.
    * ``linear``: elongation < 0.35 and tortuosity < 1.3 (or unknown).
    * ``sheet_like``: flatness < 0.3 with elongation >= 0.4 (two long axes).
    * otherwise ``amorphous_cloudy`` (low confidence).

Cluster rules
    * ``rice_grain``: >= 3 fragments, median volume <= 150 mm^3 and median
      elongation <= 0.6.
    * ``lobulated_chalky``: >= 2 fragments, largest >= 200 mm^3 and mean HU >= 300.
    * ``punctate``: >= 3 fragments, all < 10 mm^3.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from calcdx.measure.context import ClusterStatistics
from calcdx.measure.shape import ShapeMeasures
from calcdx.measure.vessel import VesselWall

__all__ = ["PatternCall", "cluster_patterns", "lesion_patterns"]


class PatternCall(BaseModel):
    """One pattern guess with its evidence."""

    model_config = ConfigDict(frozen=True)

    pattern: str
    evidence: str
    confidence: str = "moderate"


def lesion_patterns(
    shape: ShapeMeasures, *, origin: str = "soft_tissue", vessel: VesselWall | None = None,
) -> list[PatternCall]:
    """Pattern guesses for one lesion.

    Parameters
    ----------
    shape : ShapeMeasures
        The lesion's measurements.
    origin : str
        Detection origin.
    vessel : VesselWall, optional
        The circle fitted to the lesion's pool of plate-like neighbours, when it
        is one (:func:`calcdx.measure.vessel.find_vessel_walls`).

    Returns
    -------
    list of PatternCall
        At least one call.
    """
    s = shape
    calls: list[PatternCall] = []
    # A plaque's plate shape is the plaque's own: the shape rules below (sheet_like,
    # linear) would point the engine to sheet-forming diseases, so they are not applied.
    if origin == "vessel_wall_plaque":
        return [PatternCall(pattern="patchy_plaque",
                            evidence="mineral denser than an adjacent enhancing lumen")]
    if vessel is not None and vessel.accepted:
        if vessel.closed:  # calcified all round, along the vessel: the "pipe-stem" wall
            return [PatternCall(pattern="tram_track",
                                evidence=f"circumferential vessel-wall calcification: "
                                         f"{vessel.evidence()}")]
        return [PatternCall(pattern="patchy_plaque",
                            evidence=f"vessel-wall plaque: {vessel.evidence()}")]
    if s.volume_mm3 < 30.0 and s.elongation >= 0.5:
        calls.append(
            PatternCall(pattern="punctate", evidence=f"volume {s.volume_mm3:.1f} mm^3 < 30, "
                        f"elongation {s.elongation:.2f}")
        )
        return calls
    rim_excess = (
        s.rim_mean_hu - s.core_mean_hu
        if s.rim_mean_hu is not None and s.core_mean_hu is not None
        else None
    )
    lucent = s.hollow_fraction >= 0.05 or (rim_excess is not None and rim_excess >= 100.0)
    round_ = s.elongation >= 0.6 and s.flatness >= 0.5
    if round_ and s.volume_mm3 <= 1000.0 and lucent:
        calls.append(PatternCall(
            pattern="lucent_centre_round",
            evidence=(f"round (elongation {s.elongation:.2f}, flatness {s.flatness:.2f}), "
                      f"{s.volume_mm3:.0f} mm^3, hollow fraction {s.hollow_fraction:.2f}"),
        ))
    if (s.dependent_excess_hu or 0.0) >= 150.0 and s.hollow_fraction >= 0.2:
        calls.append(PatternCall(
            pattern="fluid_calcium_level",
            evidence=f"dependent half {s.dependent_excess_hu:.0f} HU denser, hollow "
                     f"fraction {s.hollow_fraction:.2f}",
            confidence="low",
        ))
    zonal = rim_excess is not None and (
        rim_excess >= 100.0 or (s.rim_core_ratio is not None and s.rim_core_ratio >= 1.5)
    )
    if zonal and s.volume_mm3 >= 200.0 and not (round_ and s.volume_mm3 <= 1000.0):
        calls.append(PatternCall(
            pattern="zonal_peripheral",
            evidence=f"rim {s.rim_mean_hu:.0f} HU vs core {s.core_mean_hu:.0f} HU",
        ))
    if s.tortuosity is not None and s.elongation < 0.5 and s.tortuosity >= 1.3:
        calls.append(PatternCall(
            pattern="serpiginous_coiled",
            evidence=f"elongation {s.elongation:.2f}, tortuosity {s.tortuosity:.2f}, "
                     f"skeleton {s.skeleton_length_mm or 0:.0f} mm",
        ))
    elif s.elongation < 0.35:
        tort = f", tortuosity {s.tortuosity:.2f}" if s.tortuosity is not None else ""
        calls.append(PatternCall(pattern="linear", evidence=f"elongation {s.elongation:.2f}{tort}"))
    if s.flatness < 0.3 and s.elongation >= 0.4:
        calls.append(PatternCall(
            pattern="sheet_like",
            evidence=f"flatness {s.flatness:.2f} with elongation {s.elongation:.2f}",
        ))
    if not calls:
        calls.append(PatternCall(pattern="amorphous_cloudy", evidence="no specific shape rule met",
                                 confidence="low"))
    return calls


def cluster_patterns(stats: ClusterStatistics) -> list[PatternCall]:
    """Pattern guesses for a cluster.

    Parameters
    ----------
    stats : ClusterStatistics

    Returns
    -------
    list of PatternCall
        Possibly empty.
    """
    calls: list[PatternCall] = []
    if stats.n_lesions >= 3 and stats.max_volume_mm3 < 10.0:
        calls.append(PatternCall(pattern="punctate",
                                 evidence=f"{stats.n_lesions} fragments, all < 10 mm^3"))
    elif (stats.n_lesions >= 3 and stats.median_volume_mm3 <= 150.0
          and stats.median_elongation <= 0.6):
        calls.append(PatternCall(
            pattern="rice_grain",
            evidence=(f"{stats.n_lesions} fragments, median {stats.median_volume_mm3:.0f} mm^3, "
                      f"median elongation {stats.median_elongation:.2f}, axis alignment "
                      f"{stats.axis_alignment:.2f}"),
        ))
    if stats.n_lesions >= 2 and stats.max_volume_mm3 >= 200.0 and stats.mean_hu >= 300.0:
        calls.append(PatternCall(
            pattern="lobulated_chalky",
            evidence=(f"{stats.n_lesions} lobules, largest {stats.max_volume_mm3:.0f} mm^3, "
                      f"mean {stats.mean_hu:.0f} HU"),
        ))
    return calls
