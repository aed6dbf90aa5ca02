"""From measured lesions to case-format findings, one case per lesion group.

A *lesion group* is a cluster of nearby fragments (rice grains, lobules), the
plaques of one vessel wall, however far apart along it, or a solitary lesion.
For each group, :func:`derive_groups` states the case-format imaging values the
measurements support, each with its confidence and the measurements behind it.
A value the images cannot support (organ, evolution, enhancement, most
associated findings) is left unstated, never guessed: the engine treats it as
unknown.

Lesions in costal cartilage (location ``cartilage_nonarticular`` in region
``chest_wall``: read so from the image on a rib end or standing apart from it at
the rib cage's depth, :mod:`calcdx.measure.costal`,
or from TotalSegmentator's ``costal_cartilages`` label) are one finding, the
costal cartilages, wherever
they lie along the chest wall: one group, whose ``location`` evidence quotes the
call and which states ``arrangement: bilateral_symmetric`` when the calls lie on
both sides of the midline (the cartilages are paired).

A lesion read as plaque of a vessel wall without contrast
(:mod:`calcdx.measure.vessel`) carries its circle fit in ``LesionRecord.vessel``;
the group's ``pattern.patchy_plaque`` (``tram_track`` for a wall calcified all
round) and ``location`` evidence quote it (radius, RMS residual, arc, lumen HU),
and a group of several such plaques, or a calcified tube, states
``arrangement: along_vessel``.

Confidence is a number in [0, 1]: pattern calls map ``high`` to 0.9,
``moderate`` to 0.7 and ``low`` to 0.4; calls below 0.5 are reported in the
derivation but left out of the case.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from calcdx.analysis import AnalysisResult, ClusterRecord, LesionRecord
from calcdx.findings.patterns import PatternCall
from calcdx.measure.context import PERIARTICULAR_MM

__all__ = ["Derived", "LesionGroup", "derive_groups"]

_CONFIDENCE = {"high": 0.9, "moderate": 0.7, "low": 0.4}
#: Calls below this confidence are shown but not put into the case.
MIN_CONFIDENCE = 0.5


class Derived(BaseModel):
    """One derived case-format value with what supports it."""

    model_config = ConfigDict(frozen=True)

    value: Any
    confidence: float = Field(ge=0, le=1)
    evidence: str


class LesionGroup(BaseModel):
    """A lesion group and the imaging findings derived from it.

    Attributes
    ----------
    id : str
        ``G1``, ``G2``... by decreasing total volume.
    lesion_ids : list of int
        Lesion ids (as in the label map).
    cluster_id : int or None
        The cluster the group comes from.
    imaging : dict
        Case-format ``imaging`` values stated for the group.
    derivation : dict of str to Derived
        Every derived field (also those left out for low confidence).
    volume_mm3 : float
        Total mineral volume of the group.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    lesion_ids: list[int]
    cluster_id: int | None
    imaging: dict[str, Any]
    derivation: dict[str, Derived]
    volume_mm3: float


def _majority(values: Sequence[str | None]) -> tuple[str | None, float]:
    known = [v for v in values if v is not None]
    if not known:
        return None, 0.0
    value, count = Counter(known).most_common(1)[0]
    return value, count / len(values)


def _extent(n: int) -> str:
    if n == 1:
        return "solitary"
    if n <= 5:
        return "few_regional"
    return "multiple_regional"


def _pattern_derivations(calls: Sequence[PatternCall]) -> list[tuple[str, Derived]]:
    best: dict[str, Derived] = {}
    for call in calls:
        derived = Derived(
            value=call.pattern,
            confidence=_CONFIDENCE.get(call.confidence, 0.5),
            evidence=call.evidence,
        )
        if call.pattern not in best or derived.confidence > best[call.pattern].confidence:
            best[call.pattern] = derived
    return sorted(best.items())


def _periarticular_deposit(lesions: Sequence[LesionRecord]) -> str | None:
    """Evidence that a multi-lesion deposit lies around a joint, or None.

    Periarticular is a property of the whole deposit: the lobules of a mass
    around a joint each see the nearest bone, but only those nearest the joint
    line see two. The deposit is periarticular when at least one lobule is
    (two or more bones within 15 mm, :func:`calcdx.measure.context.compartment_guess`)
    and every lobule lies within 15 mm of bone.
    """
    if len(lesions) < 2 or not any(lesion.location == "periarticular" for lesion in lesions):
        return None
    distances = [lesion.context.bone_distance_mm for lesion in lesions]
    if any(d is None or d > PERIARTICULAR_MM for d in distances):
        return None
    k = sum(lesion.location == "periarticular" for lesion in lesions)
    return (
        f"{k} of {len(lesions)} lobules lie within {PERIARTICULAR_MM:g} mm of two or more "
        f"bones and all within {max(d for d in distances if d is not None):.0f} mm of bone: "
        "a deposit around a joint"
    )


def _costal_kinds(lesions: Sequence[LesionRecord]) -> str:
    """How the lesions read as costal cartilage were so read, when by more than one rule."""
    calls = [lesion.costal for lesion in lesions
             if lesion.costal is not None and lesion.costal.accepted]
    kinds = Counter("along the chain of segments" if c.linked_to is not None
                    else "standing apart at the rib cage's depth" if c.kind == "free"
                    else "on a rib end" for c in calls)
    if len(calls) < 2:
        return ""
    return ", ".join(f"{k} {what}" for what, k in kinds.most_common()) + "; e.g. "


def _group(gid: str, lesions: list[LesionRecord], cluster: ClusterRecord | None) -> LesionGroup:
    derivation: dict[str, Derived] = {
        "modality": Derived(value="ct", confidence=1.0, evidence="CT study")
    }
    n = len(lesions)
    wall = next((lesion.vessel for lesion in lesions
                 if lesion.vessel is not None and lesion.vessel.accepted), None)
    matrix, share = _majority([lesion.matrix for lesion in lesions])
    if matrix is not None:
        derivation["matrix"] = Derived(
            value=matrix,
            confidence=round(0.8 * share, 3),
            evidence=f"{share:.0%} of {n} lesion(s) called {matrix} from density and structure",
        )
    location, share = _majority([lesion.location for lesion in lesions])
    joint = _periarticular_deposit(lesions)
    if joint is not None:
        location, share = "periarticular", 1.0
    if location is not None:
        example = lesions[0].context
        evidence = joint or (
            f"{share:.0%} of lesions; surrounding {example.surrounding_tissue or 'tissue'} "
            f"(median {example.surrounding_median_hu or 0:.0f} HU), skin "
            f"{example.skin_distance_mm or 0:.0f} mm, "
            f"bone {example.bone_distance_mm or 0:.0f} mm"
        )
        labelled = [lesion.anatomy for lesion in lesions if lesion.anatomy is not None
                    and lesion.anatomy.location == location]
        if labelled and joint is None:
            evidence = (f"{share:.0%} of lesions; in or touching the TotalSegmentator label "
                        f"{labelled[0].structure!r}")
        read = [lesion.costal for lesion in lesions
                if lesion.costal is not None and lesion.costal.accepted]
        # the example quoted: one read on its own before one read along the chain
        costal = min(read, key=lambda c: c.linked_to is not None, default=None)
        if location == "cartilage_nonarticular" and costal is not None and not labelled:
            evidence = f"{share:.0%} of lesions; {_costal_kinds(lesions)}{costal.evidence()}"
        if location == "artery" and wall is not None:
            evidence += f"; wall of a plaque-lined tube: {wall.evidence()}"
        derivation["location"] = Derived(
            value=location, confidence=round(0.7 * share, 3), evidence=evidence,
        )
    organ, share = _majority([lesion.anatomy.organ if lesion.anatomy is not None
                              and lesion.anatomy.organ is not None else lesion.organ
                              for lesion in lesions])
    if organ is not None:
        hits = [lesion.anatomy for lesion in lesions if lesion.anatomy is not None
                and lesion.anatomy.organ == organ]
        inside = sum(h.inside_fraction > 0 for h in hits)
        derivation["organ"] = Derived(
            value=organ,
            confidence=round(0.9 * share, 3),
            evidence=(f"{len(hits)} of {n} lesion(s) in or touching the TotalSegmentator "
                      f"label {hits[0].structure!r} ({inside} inside it)" if hits else
                      f"{share:.0%} of {n} lesion(s) at least half inside the cranial cavity "
                      "(background enclosed by the skull in its slices and joined to the "
                      "brain's, calcdx.measure.cranial)"),
        )
    # Region: every lesion has one (anatomy label or the image's plane); a group spanning
    # two regions takes the one holding most of its volume, still stated in the case.
    by_volume: dict[str, float] = {}
    for lesion in lesions:
        if lesion.region is not None:
            by_volume[lesion.region] = by_volume.get(lesion.region, 0.0) + lesion.volume_mm3
    if by_volume:
        region = max(by_volume, key=lambda r: by_volume[r])
        share = by_volume[region] / max(sum(by_volume.values()), 1e-9)
        source = next((lesion.anatomy.structure for lesion in lesions
                       if lesion.anatomy is not None and lesion.anatomy.region == region), None)
        derivation["region"] = Derived(
            value=region,
            confidence=round(0.5 + 0.4 * share, 3),
            evidence=(f"{share:.0%} of the group's volume; " + (
                f"from the TotalSegmentator label {source!r}" if source is not None
                else "the costal-cartilage call (calcdx.measure.costal)"
                if region == "chest_wall" and any(
                    lesion.costal is not None and lesion.costal.accepted for lesion in lesions)
                else "the image's region of the lesion's plane (body outline, lungs, "
                "skeleton layout; result.json masks.regions)")),
        )
    derivation["extent"] = Derived(
        value=_extent(n),
        confidence=0.7,
        evidence=(f"{n} plaque(s) on one vessel wall" if wall is not None and cluster is None
                  else f"{n} calcified costal cartilage segment(s)"
                  if location == "cartilage_nonarticular" and cluster is None
                  else f"{n} calcification(s) inside the cranial cavity"
                  if cluster is None and n > 1 and all(x.organ == "brain" for x in lesions)
                  else f"{n} fragment(s) grouped within the cluster distance"),
    )
    dominant = max(lesions, key=lambda lesion: lesion.volume_mm3)
    derivation["size_mm"] = Derived(
        value=round(dominant.shape.max_extent_mm, 1),
        confidence=0.9,
        evidence=f"largest extent of lesion {dominant.id}",
    )
    calls: list[PatternCall] = list(cluster.pattern) if cluster is not None else []
    if not any(_CONFIDENCE.get(c.confidence, 0.5) >= MIN_CONFIDENCE for c in calls):
        calls += [call for lesion in lesions for call in lesion.pattern]
    patterns = _pattern_derivations(calls)
    for name, derived in patterns:
        derivation[f"pattern.{name}"] = derived
    arrangement: list[str] = []
    names = {name for name, d in patterns if d.confidence >= MIN_CONFIDENCE}
    if "fluid_calcium_level" in names:
        arrangement.append("dependent_layering")
        derivation["arrangement.dependent_layering"] = Derived(
            value="dependent_layering", confidence=0.6, evidence="denser dependent half"
        )
    if wall is not None and (("patchy_plaque" in names and n >= 2) or "tram_track" in names):
        arrangement.append("along_vessel")
        what = "a calcified tube" if "tram_track" in names else f"{n} plaques"
        derivation["arrangement.along_vessel"] = Derived(
            value="along_vessel",
            confidence=0.7,
            evidence=f"{what} on one circle of radius {wall.radius_mm:.1f} mm over "
            f"{wall.span_mm:.0f} mm of the vessel",
        )
    sides = {lesion.costal.side for lesion in lesions if lesion.costal is not None}
    if location == "cartilage_nonarticular" and {"left", "right"} <= sides:
        arrangement.append("bilateral_symmetric")
        derivation["arrangement.bilateral_symmetric"] = Derived(
            value="bilateral_symmetric", confidence=0.6,
            evidence="calcified costal cartilage on both sides of the body's midline (the "
            "cartilages are paired)",
        )
    if (
        cluster is not None
        and "rice_grain" in names
        and cluster.statistics.axis_alignment >= 0.8
        and location == "muscle"
    ):
        arrangement.append("along_muscle_fibres")
        derivation["arrangement.along_muscle_fibres"] = Derived(
            value="along_muscle_fibres",
            confidence=0.6,
            evidence=f"fragments aligned (axis alignment {cluster.statistics.axis_alignment:.2f})",
        )
    imaging: dict[str, Any] = {}
    for field in ("modality", "region", "location", "organ", "matrix", "extent", "size_mm"):
        if field in derivation and derivation[field].confidence >= MIN_CONFIDENCE:
            imaging[field] = derivation[field].value
    imaging["pattern"] = sorted(names)
    if arrangement:
        imaging["arrangement"] = arrangement
    return LesionGroup(
        id=gid,
        lesion_ids=[lesion.id for lesion in lesions],
        cluster_id=cluster.id if cluster is not None else None,
        imaging={k: v for k, v in imaging.items() if v not in ([], None)},
        derivation=derivation,
        volume_mm3=sum(lesion.volume_mm3 for lesion in lesions),
    )


def derive_groups(result: AnalysisResult) -> list[LesionGroup]:
    """Group the lesions and derive each group's case-format imaging findings.

    Parameters
    ----------
    result : AnalysisResult
        The analysis of one study.

    Returns
    -------
    list of LesionGroup
        Largest total volume first, ids ``G1``, ``G2``...
    """
    by_id = {lesion.id: lesion for lesion in result.lesions}
    raw: list[tuple[list[LesionRecord], ClusterRecord | None]] = []
    # calcified costal cartilage, however far apart along the chest wall, is one finding
    costal = [lesion for lesion in result.lesions
              if lesion.location == "cartilage_nonarticular" and lesion.region == "chest_wall"]
    if costal:
        raw.append((costal, None))
    grouped: set[int] = {lesion.id for lesion in costal}
    # calcifications inside the cranial cavity (pineal, choroid plexus, dura, basal
    # ganglia ...), however far apart, are read together as one finding
    cranial = [lesion for lesion in result.lesions
               if lesion.organ == "brain" and lesion.id not in grouped]
    if cranial:
        raw.append((cranial, None))
        grouped.update(lesion.id for lesion in cranial)
    for cluster in result.clusters:
        members = [by_id[i] for i in cluster.lesion_ids if i in by_id and i not in grouped]
        if members:
            raw.append((members, cluster))
            grouped.update(lesion.id for lesion in members)
    # plaques of one vessel wall (calcdx.measure.vessel) are one finding, however far
    # apart along the vessel: one group per accepted pool of lesions not clustered otherwise
    walls: dict[tuple[int, ...], list[LesionRecord]] = {}
    for lesion in result.lesions:
        if lesion.id not in grouped and lesion.vessel is not None and lesion.vessel.accepted:
            walls.setdefault(lesion.vessel.pool_lesion_ids, []).append(lesion)
    for members in walls.values():
        raw.append((members, None))
        grouped.update(lesion.id for lesion in members)
    raw += [([lesion], None) for lesion in result.lesions if lesion.id not in grouped]
    raw.sort(key=lambda item: (-sum(lesion.volume_mm3 for lesion in item[0]), item[0][0].id))
    return [_group(f"G{n}", members, cluster) for n, (members, cluster) in enumerate(raw, start=1)]
