"""Field-level agreement between a case read from text and a hand transcription.

Every case is flattened into items, one per stated value (``imaging.region=thigh``,
``clinical=trauma_recent``, ``labs.calcium=normal``, ``patient.age_years=34``,
``imaging.size_mm=60``); precision and recall are counted over items, per field
and per field group. Numbers agree when they round to the same whole unit
(years, mm).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from calcdx.case.model import Case, parse_case
from calcdx.case.vocabulary import CASE_FORMAT

if TYPE_CHECKING:
    from calcdx.reasoning.differential import Differential, Engine
    from calcdx.text.reader import TextReader

__all__ = [
    "FIELD_GROUPS",
    "MIN_SUPPORT",
    "PRECISION_TARGET",
    "RECALL_TARGET",
    "TOP3_GAP_TARGET",
    "Agreement",
    "Evaluation",
    "case_items",
    "evaluate_descriptions",
    "score_cases",
]

#: Targets of the free-text reader on real case descriptions (issue 11).
PRECISION_TARGET: Final = 0.90
RECALL_TARGET: Final = 0.80
TOP3_GAP_TARGET: Final = 0.05
#: Groups with fewer transcribed items than this are reported but not judged.
MIN_SUPPORT: Final = 10

#: Field -> the group it is reported in.
FIELD_GROUPS: Final = {
    "patient.age_years": "patient",
    "patient.sex": "patient",
    "clinical": "clinical",
    "clinical_absent": "clinical_absent",
    "labs": "labs",
    "imaging.modality": "imaging_appearance",
    "imaging.matrix": "imaging_appearance",
    "imaging.pattern": "imaging_appearance",
    "imaging.size_mm": "imaging_appearance",
    "imaging.region": "imaging_where",
    "imaging.location": "imaging_where",
    "imaging.organ": "imaging_where",
    "imaging.extent": "imaging_extent",
    "imaging.arrangement": "imaging_extent",
    "imaging.associated": "associated",
    "imaging.associated_absent": "associated_absent",
    "imaging.evolution": "evolution",
}


def case_items(case: Case) -> set[tuple[str, str]]:
    """Flatten a case into (field, value) items.

    Parameters
    ----------
    case : Case

    Returns
    -------
    set of (str, str)
        One item per stated value; ``labs`` items read ``calcium=normal``.
    """
    items: set[tuple[str, str]] = set()
    patient = case.patient
    if patient.age_years is not None:
        items.add(("patient.age_years", f"{round(patient.age_years)}"))
    if patient.sex is not None:
        items.add(("patient.sex", patient.sex))
    items |= {("clinical", value) for value in case.clinical}
    items |= {("clinical_absent", value) for value in case.clinical_absent}
    items |= {("labs", f"{lab}={level}") for lab, level in case.labs.items()}
    imaging = case.imaging
    for name in ("modality", "matrix", "region", "location", "organ", "extent", "evolution"):
        value = getattr(imaging, name)
        if value is not None:
            items.add((f"imaging.{name}", value))
    for name in ("pattern", "arrangement", "associated", "associated_absent"):
        items |= {(f"imaging.{name}", value) for value in getattr(imaging, name)}
    if imaging.size_mm is not None:
        items.add(("imaging.size_mm", f"{round(imaging.size_mm)}"))
    return items


@dataclass
class Agreement:
    """Counts of agreeing, extra and missed items, by field and by group.

    Attributes
    ----------
    true_positive, false_positive, false_negative : dict of str to int
        Keyed by field and by group name.
    """

    true_positive: dict[str, int] = field(default_factory=dict)
    false_positive: dict[str, int] = field(default_factory=dict)
    false_negative: dict[str, int] = field(default_factory=dict)

    def _count(self, table: dict[str, int], field_name: str) -> None:
        for key in (field_name, FIELD_GROUPS[field_name]):
            table[key] = table.get(key, 0) + 1

    def add(self, read: Case | None, truth: Case) -> None:
        """Count one case (`read` None when the text could not be read)."""
        got = case_items(read) if read is not None else set()
        want = case_items(truth)
        for name, _ in got & want:
            self._count(self.true_positive, name)
        for name, _ in got - want:
            self._count(self.false_positive, name)
        for name, _ in want - got:
            self._count(self.false_negative, name)

    def precision(self, key: str) -> float | None:
        """Share of the read items that the transcription has (None when nothing was read)."""
        tp, fp = self.true_positive.get(key, 0), self.false_positive.get(key, 0)
        return tp / (tp + fp) if tp + fp else None

    def recall(self, key: str) -> float | None:
        """Share of the transcribed items that were read (None when none were transcribed)."""
        tp, fn = self.true_positive.get(key, 0), self.false_negative.get(key, 0)
        return tp / (tp + fn) if tp + fn else None

    def support(self, key: str) -> int:
        """Number of transcribed items of a field or group."""
        return self.true_positive.get(key, 0) + self.false_negative.get(key, 0)

    def groups(self) -> list[str]:
        """The field groups, in report order."""
        return list(dict.fromkeys(FIELD_GROUPS.values()))


def score_cases(pairs: Iterable[tuple[Case | None, Case]]) -> Agreement:
    """Score (read, transcribed) case pairs.

    Parameters
    ----------
    pairs : iterable of (Case or None, Case)
        The case read from each description (None when refused) and its hand
        transcription.

    Returns
    -------
    Agreement
    """
    agreement = Agreement()
    for read, truth in pairs:
        agreement.add(read, truth)
    return agreement


@dataclass(frozen=True)
class Evaluation:
    """The reader on a set of described cases.

    Attributes
    ----------
    n : int
        Descriptions.
    refused : int
        Descriptions the reader refused (empty or off-topic to it).
    agreement : Agreement
        Field agreement with the hand transcriptions.
    top3_text, top3_hand : float
        Share of cases whose published diagnosis is in the top 3 of the
        differential from the text and from the hand transcription.
    """

    n: int
    refused: int
    agreement: Agreement
    top3_text: float
    top3_hand: float

    def below_target(self) -> list[str]:
        """Groups (with enough items) under the precision or recall target."""
        below = []
        for group in self.agreement.groups():
            if self.agreement.support(group) < MIN_SUPPORT:
                continue
            p = self.agreement.precision(group) or 0.0
            r = self.agreement.recall(group) or 0.0
            if p < PRECISION_TARGET or r < RECALL_TARGET:
                below.append(f"{group}: precision {p:.3f}, recall {r:.3f}")
        return below


def _top3(items: Sequence[Mapping[str, Any]], results: Sequence[Differential]) -> float:
    hits = [
        item["truth"] in [r.entity for r in result.ranked[:3]]
        for item, result in zip(items, results, strict=True)
    ]
    return sum(hits) / len(hits) if hits else 0.0


def evaluate_descriptions(
    reader: TextReader, engine: Engine, items: Sequence[Mapping[str, Any]]
) -> Evaluation:
    """Read every description and compare with its transcription and published diagnosis.

    Parameters
    ----------
    reader : TextReader
    engine : Engine
        The differential engine.
    items : sequence of mapping
        Real-case items with ``description``, ``case`` (the hand transcription)
        and ``truth`` (the published diagnosis).

    Returns
    -------
    Evaluation
    """
    truths = [parse_case(item["case"]) for item in items]
    read: list[Case | None] = [
        None if isinstance(result, Exception) else result.case
        for result in reader.read_many(str(item["description"]) for item in items)
    ]
    blank = parse_case({"format": CASE_FORMAT})
    return Evaluation(
        n=len(items),
        refused=sum(case is None for case in read),
        agreement=score_cases(zip(read, truths, strict=True)),
        top3_text=_top3(items, engine.diagnose_many([case or blank for case in read])),
        top3_hand=_top3(items, engine.diagnose_many(truths)),
    )
