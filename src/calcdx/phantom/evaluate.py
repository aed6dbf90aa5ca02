"""Score the derived findings against the phantom's planted truth.

Each planted lesion kind has the case-format pattern a radiologist would call
for it. A lesion group matches the planted lesion that owns most of its voxels;
the group agrees when its derived case states the expected pattern.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from calcdx.analysis import AnalysisResult
from calcdx.findings.derive import LesionGroup
from calcdx.phantom._model import Phantom

__all__ = ["EXPECTED_PATTERN", "KindAgreement", "pattern_agreement"]

#: Planted kind -> the pattern its lesion group should be called.
EXPECTED_PATTERN: dict[str, str] = {
    "zonal_rim": "zonal_peripheral",
    "lobulated_periarticular_cluster": "lobulated_chalky",
    "rice_grain_cluster": "rice_grain",
    "serpiginous_linear": "serpiginous_coiled",
    "phlebolith_ring": "lucent_centre_round",
    "subcutaneous_plaque": "sheet_like",
    "punctate_dots": "punctate",
    "vessel_wall_plaques": "patchy_plaque",
}


@dataclass(frozen=True)
class KindAgreement:
    """Agreement for one planted kind.

    Attributes
    ----------
    kind : str
    expected : str
        The pattern expected.
    groups : int
        Lesion groups matched to planted lesions of this kind.
    agree : int
        Of those, groups whose derived case states the expected pattern.
    called : tuple of str
        The patterns the groups were given, for the record.
    """

    kind: str
    expected: str
    groups: int
    agree: int
    called: tuple[str, ...]

    @property
    def rate(self) -> float:
        """Share of groups that agree (0 when none were matched)."""
        return self.agree / self.groups if self.groups else 0.0


def pattern_agreement(
    runs: list[tuple[Phantom, AnalysisResult, list[LesionGroup]]],
) -> dict[str, KindAgreement]:
    """Per planted kind, how many lesion groups got the expected pattern.

    Parameters
    ----------
    runs : list of (Phantom, AnalysisResult, list of LesionGroup)
        Analysed phantoms and their derived groups.

    Returns
    -------
    dict of str to KindAgreement
        Every kind of :data:`EXPECTED_PATTERN` planted in at least one run.
    """
    tally: dict[str, list[int]] = {}
    called: dict[str, list[str]] = {}
    for phantom, result, groups in runs:
        kinds = {lesion.id: lesion.kind for lesion in phantom.truth}
        for group in groups:
            owners = Counter(phantom.labels[np.isin(result.label_map, group.lesion_ids)].tolist())
            owners.pop(0, None)
            if not owners:
                continue
            kind = kinds[owners.most_common(1)[0][0]]
            if kind not in EXPECTED_PATTERN:
                continue
            patterns = group.imaging.get("pattern", [])
            counts = tally.setdefault(kind, [0, 0])
            counts[0] += 1
            counts[1] += EXPECTED_PATTERN[kind] in patterns
            called.setdefault(kind, []).append("+".join(patterns) or "(none)")
    return {
        kind: KindAgreement(kind, EXPECTED_PATTERN[kind], n, ok, tuple(sorted(set(called[kind]))))
        for kind, (n, ok) in sorted(tally.items())
    }
