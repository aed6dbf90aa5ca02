"""Next findings: which unobserved finding would best narrow the differential.

Every unobserved finding is a yes/no question ("is there a cleft from bone?",
"is the phosphate high?"). Its value is the expected information gain: the
entropy of the current posterior minus the expected entropy after the answer,

    IG(q) = H(p) - [P(yes) H(p | yes) + P(no) H(p | no)],

with P(yes) = sum_e P(yes | e) p(e), in bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from calcdx.case.model import Case
from calcdx.case.vocabulary import CATEGORICAL_FIELDS
from calcdx.reasoning.model import LAB_PREFIX, LikelihoodModel

__all__ = [
    "NextFinding",
    "QuestionTable",
    "information_gain",
    "next_findings",
    "question_table",
]


@dataclass(frozen=True)
class QuestionTable:
    """Every possible yes/no question with P(yes | e), plus terms precomputed for speed.

    Attributes
    ----------
    fields, values : tuple of str
        The question's case-format field (``pattern``, ``labs.phosphate``...) and value.
    p_yes : (Q, E) ndarray
        P(answer yes | e).
    rate_and_entropy : (E, 2Q) ndarray
        ``p_yes.T`` beside the entropy of the answer given each entity,
        ``H_b(p_yes).T`` in bits (``H_b(a) = -a log2 a - (1 - a) log2(1 - a)``),
        so that one matrix product gives both terms of the gain.
    rows_of_field : dict of str to list of int
        Rows of the questions of each field.
    row_of : dict of str to int
        Row of ``"field=value"``.
    """

    fields: tuple[str, ...]
    values: tuple[str, ...]
    p_yes: NDArray[np.float64]
    rate_and_entropy: NDArray[np.float64]
    rows_of_field: dict[str, list[int]]
    row_of: dict[str, int]


class NextFinding(NamedTuple):
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


def _binary_entropy(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """Entropy in bits of a yes/no answer with P(yes) = `a` (elementwise, 0 < a < 1)."""
    return np.asarray(-(a * np.log2(a) + (1.0 - a) * np.log2(1.0 - a)))


def question_table(model: LikelihoodModel) -> QuestionTable:
    """Gather all yes/no questions of a model (presence and categorical values)."""
    items = list(model.presence.items()) + list(model.categorical.items())
    p_yes = np.clip(np.stack([row for _, row in items]), 1e-12, 1 - 1e-12)
    fields = tuple(key[0] for key, _ in items)
    return QuestionTable(
        fields=fields,
        values=tuple(key[1] for key, _ in items),
        p_yes=p_yes,
        rate_and_entropy=np.ascontiguousarray(np.hstack([p_yes.T, _binary_entropy(p_yes).T])),
        rows_of_field={f: [i for i, g in enumerate(fields) if g == f] for f in set(fields)},
        row_of={f"{field}={value}": row for row, ((field, value), _) in enumerate(items)},
    )


def _answered_rows(case: Case, table: QuestionTable) -> list[int]:
    """Rows of the questions the case already answers."""
    rows: list[int] = []
    imaging = case.imaging
    for field in CATEGORICAL_FIELDS:
        if getattr(imaging, field) is not None:
            rows += table.rows_of_field[field]
    if imaging.location is not None and imaging.location != "organ":
        rows += table.rows_of_field["organ"]
    for lab in case.labs:
        rows += table.rows_of_field[LAB_PREFIX + lab]
    row_of = table.row_of
    for field, values in (
        ("pattern", imaging.pattern),
        ("arrangement", imaging.arrangement),
        ("associated", imaging.associated),
        ("associated", imaging.associated_absent),
        ("clinical", case.clinical),
        ("clinical", case.clinical_absent),
    ):
        rows += [row_of[f"{field}={value}"] for value in values]
    return rows


def information_gain(posteriors: NDArray[np.float64], table: QuestionTable) -> NDArray[np.float64]:
    """Expected information gain of every question for every posterior.

    Parameters
    ----------
    posteriors : (N, E) ndarray
        One posterior over entities per case.
    table : QuestionTable
        All questions.

    Returns
    -------
    (N, Q) ndarray
        Expected gain in bits.

    Notes
    -----
    With A = P(yes | e) and p the posterior, the gain is the mutual information
    of the answer and the entity,

        IG = H(p) - [P(yes) H(p | yes) + P(no) H(p | no)] = H_b(P(yes)) - sum_e p(e) H_b(A_e),

    with P(yes) = sum_e p(e) A_e and H_b the binary entropy: one matrix product
    against ``table.rate_and_entropy`` gives both sums.
    """
    n_questions = len(table.fields)
    # one matrix-vector product per case: a matrix product would wake OpenBLAS's
    # worker threads, whose busy-waiting after the call slows the rest of a batch
    # several-fold on a machine with few, shared cores
    transposed = table.rate_and_entropy.T
    both = np.array([transposed @ row for row in posteriors]).reshape(
        len(posteriors), 2 * n_questions
    )
    prob_yes = np.clip(both[:, :n_questions], 1e-15, 1.0 - 1e-15)
    gain = _binary_entropy(prob_yes) - both[:, n_questions:]
    return np.asarray(np.maximum(gain, 0.0))


def next_findings(
    case: Case,
    posterior: NDArray[np.float64],
    gain: NDArray[np.float64],
    model: LikelihoodModel,
    table: QuestionTable,
    *,
    count: int = 5,
    rank_key: NDArray[np.float64] | None = None,
) -> list[NextFinding]:
    """Pick the unobserved findings with the highest expected information gain.

    Parameters
    ----------
    case : Case
        The case (to skip what it already states).
    posterior : (E,) ndarray
        Current posterior over entities.
    gain : (Q,) ndarray
        Expected gain of every question (:func:`information_gain`), in bits.
    model : LikelihoodModel
        Compiled tables (for entity names).
    table : QuestionTable
        All questions.
    count : int
        How many to return.
    rank_key : (Q,) ndarray, optional
        What to rank by; default `gain` rounded to 1e-9 bits, so that
        floating-point noise cannot reorder equal questions.

    Returns
    -------
    list of NextFinding
        Best first; ties keep the question table's order (deterministic).
    """
    masked = np.round(gain, 9) if rank_key is None else rank_key.copy()
    masked[_answered_rows(case, table)] = -np.inf
    best = np.argsort(-masked, kind="stable")[:count]
    top = np.argsort(-posterior, kind="stable")[:6]
    chosen_rates: list[list[float]] = table.p_yes[best][:, top].tolist()
    order: list[int] = best.tolist()
    top_ids: list[int] = top.tolist()
    found: list[NextFinding] = []
    for row, rates in zip(order, chosen_rates, strict=True):
        bits = float(gain[row])
        if not masked[row] > 1e-9:
            break
        hi = top_ids[rates.index(max(rates))]
        lo = top_ids[rates.index(min(rates))]
        why = (
            f"expected in about {max(rates):.0%} of {model.names[hi]} "
            f"but {min(rates):.0%} of {model.names[lo]}; "
            f"expected gain {bits:.3f} bits"
        )
        found.append(NextFinding(table.fields[row], table.values[row], bits, why))
    return found
