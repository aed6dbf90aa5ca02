"""Next findings: which unobserved finding would best narrow the differential.

Every unobserved finding is a yes/no question ("is there a cleft from bone?",
"is the phosphate high?"). Its value is the expected information gain: the
entropy of the current posterior minus the expected entropy after the answer,

    IG(q) = H(p) - [P(yes) H(p | yes) + P(no) H(p | no)],

with P(yes) = sum_e P(yes | e) p(e), in bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from calcdx.case.model import Case
from calcdx.case.vocabulary import CATEGORICAL_FIELDS
from calcdx.reasoning.model import LAB_PREFIX, LikelihoodModel

__all__ = ["NextFinding", "QuestionTable", "entropy_bits", "next_findings", "question_table"]


@dataclass(frozen=True)
class QuestionTable:
    """Every possible yes/no question with P(yes | e).

    Attributes
    ----------
    fields, values : tuple of str
        The question's case-format field (``pattern``, ``labs.phosphate``...) and value.
    p_yes : (Q, E) ndarray
        P(answer yes | e).
    """

    fields: tuple[str, ...]
    values: tuple[str, ...]
    p_yes: NDArray[np.float64]


@dataclass(frozen=True)
class NextFinding:
    """A finding worth checking next."""

    field: str
    value: str
    information_bits: float
    why: str

    def to_dict(self) -> dict[str, object]:
        """Case-format ``next_findings`` item."""
        return {
            "field": self.field,
            "value": self.value,
            "information_bits": round(self.information_bits, 4),
            "why": self.why,
        }


def question_table(model: LikelihoodModel) -> QuestionTable:
    """Gather all yes/no questions of a model (presence and categorical values)."""
    keys = list(model.presence) + list(model.categorical)
    rows = [model.presence.get(key, model.categorical.get(key)) for key in keys]
    return QuestionTable(
        fields=tuple(k[0] for k in keys),
        values=tuple(k[1] for k in keys),
        p_yes=np.stack([row for row in rows if row is not None]),
    )


def entropy_bits(p: NDArray[np.float64], axis: int = -1) -> NDArray[np.float64]:
    """Shannon entropy in bits along `axis` (0 log 0 = 0)."""
    safe = np.where(p > 0, p, 1.0)
    return np.asarray(-(p * np.log2(safe)).sum(axis=axis))


def _asked(case: Case) -> set[str]:
    """Fields and (field, value) pairs the case already answers."""
    done: set[str] = set()
    imaging = case.imaging
    for field in CATEGORICAL_FIELDS:
        if getattr(imaging, field) is not None:
            done.add(field)
    if imaging.location is not None and imaging.location != "organ":
        done.add("organ")
    for lab in case.labs:
        done.add(LAB_PREFIX + lab)
    for field, values in (
        ("pattern", imaging.pattern),
        ("arrangement", imaging.arrangement),
        ("associated", [*imaging.associated, *imaging.associated_absent]),
        ("clinical", [*case.clinical, *case.clinical_absent]),
    ):
        done.update(f"{field}={value}" for value in values)
    return done


def next_findings(
    case: Case,
    posterior: NDArray[np.float64],
    model: LikelihoodModel,
    table: QuestionTable,
    *,
    count: int = 5,
) -> list[NextFinding]:
    """Rank the unobserved findings by expected information gain.

    Parameters
    ----------
    case : Case
        The case (to skip what it already states).
    posterior : (E,) ndarray
        Current posterior over entities.
    model : LikelihoodModel
        Compiled tables (for entity names).
    table : QuestionTable
        All questions.
    count : int
        How many to return.

    Returns
    -------
    list of NextFinding
        Best first; ties broken by field and value for determinism.
    """
    done = _asked(case)
    keep = np.array(
        [
            field not in done and f"{field}={value}" not in done
            for field, value in zip(table.fields, table.values, strict=True)
        ]
    )
    if not keep.any():
        return []
    p_yes = table.p_yes[keep]
    joint_yes = p_yes * posterior
    joint_no = (1.0 - p_yes) * posterior
    prob_yes = joint_yes.sum(axis=1)
    prob_no = 1.0 - prob_yes
    h_yes = entropy_bits(joint_yes / prob_yes[:, None])
    h_no = entropy_bits(joint_no / np.maximum(prob_no, 1e-300)[:, None])
    gain = entropy_bits(posterior) - (prob_yes * h_yes + prob_no * h_no)
    fields = [f for f, k in zip(table.fields, keep, strict=True) if k]
    values = [v for v, k in zip(table.values, keep, strict=True) if k]
    order = sorted(
        range(len(gain)), key=lambda i: (-round(float(gain[i]), 9), fields[i], values[i])
    )
    top = np.argsort(-posterior, kind="stable")[:6]
    found: list[NextFinding] = []
    for i in order[:count]:
        if gain[i] <= 1e-6:
            break
        rates = p_yes[i][top]
        hi, lo = top[int(np.argmax(rates))], top[int(np.argmin(rates))]
        why = (
            f"expected in about {p_yes[i][hi]:.0%} of {model.names[hi]} "
            f"but {p_yes[i][lo]:.0%} of {model.names[lo]}; "
            f"expected gain {gain[i]:.2f} bits"
        )
        found.append(NextFinding(fields[i], values[i], float(gain[i]), why))
    return found
