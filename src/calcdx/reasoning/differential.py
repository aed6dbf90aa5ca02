"""The differential: posterior over entities, explained finding by finding.

``P(e | findings) ∝ prior(e)^a × Π_f [P(f | e) r_f(e)]^w_g(f)`` (naive Bayes, findings
assumed conditionally independent given the entity, weighted by the calibration
of :mod:`calcdx.reasoning.model`: prior exponent ``a``, likelihood exponent ``w_g`` of
the finding's evidence group,
reporting factor ``r_f``; plain naive Bayes when all are 1). Each entity's
probability is explained by the likelihood ratio of every stated finding,

    LR_f(e) = L_f(e) / L_f(not e),   L_f(e) = P(f | e) r_f(e),

where ``L_f(not e)`` averages the other entities weighted by their priors
(the "evoking strength" of DXplain, as a ratio). Findings with LR >= 1.5 are
listed as supporting, LR <= 1/1.5 as against.
"""

from __future__ import annotations

import gc
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import numpy as np
from numpy.typing import NDArray

from calcdx.case.model import Case
from calcdx.reasoning.evidence import Evidence, gather_evidence
from calcdx.reasoning.information import (
    NextFinding,
    QuestionTable,
    information_gain,
    next_findings,
    question_table,
)
from calcdx.reasoning.model import EVIDENCE_GROUPS, LikelihoodModel

__all__ = ["DIFFERENTIAL_FORMAT", "Contribution", "Differential", "Engine", "RankedEntity"]

DIFFERENTIAL_FORMAT: Final = "calcdx-differential/1"

#: Entities below this posterior are left out of the list (but at least MIN_LISTED are shown).
PROBABILITY_FLOOR: Final = 0.001
MIN_LISTED: Final = 10
#: A finding counts as supporting (against) when its likelihood ratio is above (below) this.
NOTABLE_RATIO: Final = 1.5
MAX_REASONS: Final = 6
#: Cases scored together; small enough for the (chunk x questions) arrays to stay in cache.
BATCH_CHUNK: Final = 128


class Contribution(NamedTuple):
    """How much one finding moved one entity: its likelihood ratio."""

    finding: str
    label: str
    likelihood_ratio: float

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "finding": self.finding,
            "likelihood_ratio": round(self.likelihood_ratio, 4),
            "log10_lr": round(math.log10(self.likelihood_ratio), 4),
        }


class RankedEntity(NamedTuple):
    """One entity of the differential with its reasons (an immutable record)."""

    entity: str
    name: str
    probability: float
    prior: float
    evidence: tuple[Evidence, ...]
    likelihood_ratios: tuple[float, ...]
    red_flags: tuple[str, ...]
    next_steps: tuple[str, ...]
    references: tuple[str, ...]

    @property
    def contributions(self) -> tuple[Contribution, ...]:
        """Every stated finding with its likelihood ratio for this entity."""
        return tuple(
            Contribution(item.key, item.label, ratio)
            for item, ratio in zip(self.evidence, self.likelihood_ratios, strict=True)
        )

    def reasons(self) -> tuple[list[Contribution], list[Contribution]]:
        """Findings for and against this entity, strongest first (at most 6 each)."""
        ratios = np.asarray(self.likelihood_ratios, dtype=np.float64).reshape(1, -1)
        (up,), (down,) = _notable(ratios)
        return (
            [self._contribution(i) for i in up],
            [self._contribution(i) for i in down],
        )

    def _contribution(self, index: int) -> Contribution:
        item = self.evidence[index]
        return Contribution(item.key, item.label, self.likelihood_ratios[index])

    @property
    def supports(self) -> list[Contribution]:
        """Findings that raise this entity, strongest first."""
        return self.reasons()[0]

    @property
    def against(self) -> list[Contribution]:
        """Findings that lower this entity, strongest first."""
        return self.reasons()[1]

    def to_dict(self) -> dict[str, Any]:
        """The spec's differential item, with the numbers behind the reasons.

        ``supports`` and ``against`` are the findings of :meth:`reasons`;
        ``contributions`` lists them with their ratios, largest effect first.
        """
        return _entity_dicts((self,))[0]


def _notable(ratios: NDArray[np.float64]) -> tuple[list[list[int]], list[list[int]]]:
    """Per row of an (entities, findings) ratio array, the findings for and against.

    Returns, per row, the indices of ratios >= :data:`NOTABLE_RATIO` in
    descending order and of ratios <= 1 / NOTABLE_RATIO in ascending order, at
    most :data:`MAX_REASONS` each; stable sorts keep equal ratios in the case's
    finding order.
    """
    n_up = np.minimum((ratios >= NOTABLE_RATIO).sum(axis=1), MAX_REASONS).tolist()
    n_down = np.minimum((ratios <= 1 / NOTABLE_RATIO).sum(axis=1), MAX_REASONS).tolist()
    descending = np.argsort(-ratios, axis=1, kind="stable").tolist()
    ascending = np.argsort(ratios, axis=1, kind="stable").tolist()
    return (
        [order[:n] for order, n in zip(descending, n_up, strict=True)],
        [order[:n] for order, n in zip(ascending, n_down, strict=True)],
    )


def _entity_dicts(ranked: Sequence[RankedEntity]) -> list[dict[str, Any]]:
    """:meth:`RankedEntity.to_dict` of entities that share their evidence, in one pass.

    The selection and rounding are done on the (entities, findings) array of
    ratios at once: this runs for every listed entity of every answered case,
    the API's hot path.
    """
    if not ranked:
        return []
    evidence = ranked[0].evidence
    ratios = np.array([item.likelihood_ratios for item in ranked], dtype=np.float64)
    ratios = ratios.reshape(len(ranked), len(evidence))
    ups, downs = _notable(ratios)
    effect = np.abs(np.log(ratios)).tolist()
    ratio_4 = np.round(ratios, 4).tolist()
    log10_4 = np.round(np.log10(ratios), 4).tolist()
    out = []
    for row, item in enumerate(ranked):
        up, down = ups[row], downs[row]
        lr, size = ratio_4[row], effect[row]
        raw = item.likelihood_ratios
        out.append(
            {
                "entity": item.entity,
                "name": item.name,
                "probability": round(item.probability, 6),
                "prior": round(item.prior, 6),
                "supports": [f"{evidence[i].label} (x{raw[i]:.1f})" for i in up],
                "against": [f"{evidence[i].label} (x{raw[i]:.2f})" for i in down],
                "contributions": [
                    {
                        "finding": evidence[i].key,
                        "likelihood_ratio": lr[i],
                        "log10_lr": log10_4[row][i],
                    }
                    for i in sorted(up + down, key=lambda i: -size[i])
                ],
                "red_flags": list(item.red_flags),
                "next_steps": list(item.next_steps),
                "references": list(item.references),
            }
        )
    return out


@dataclass(frozen=True)
class Differential:
    """A ranked, explained differential for one case.

    Attributes
    ----------
    case_id : str or None
        The case's id.
    ranked : tuple of RankedEntity
        The explained head of the ranking: every entity with probability at least
        :data:`PROBABILITY_FLOOR`, and at least :data:`MIN_LISTED` of them.
    next_findings : tuple of NextFinding
        Unobserved findings that would narrow the differential most.
    red_flags : tuple of str
        Red flags raised by dangerous entities that stay likely.
    probabilities : dict of str to float
        Every entity's probability (they sum to 1).
    ranking : tuple of str
        Every entity id of the knowledge base, most probable first (ties by id).
    """

    case_id: str | None
    ranked: tuple[RankedEntity, ...]
    next_findings: tuple[NextFinding, ...]
    red_flags: tuple[str, ...]
    probabilities: dict[str, float] = field(repr=False)
    ranking: tuple[str, ...] = field(default=(), repr=False)

    def rank_of(self, entity_id: str) -> int:
        """Position of `entity_id` in :attr:`ranking` (0 = most probable)."""
        return self.ranking.index(entity_id)

    def to_dict(self) -> dict[str, Any]:
        """The spec's ``calcdx-differential/1`` object.

        ``differential`` holds the explained head (:attr:`ranked`), as the spec
        states; ``ranking`` adds every entity of the knowledge base with its
        probability, most probable first, so that no entity is ever missing.
        """
        probabilities = self.probabilities
        rounded = np.round([probabilities[entity] for entity in self.ranking], 8).tolist()
        return {
            "format": DIFFERENTIAL_FORMAT,
            "case_id": self.case_id,
            "differential": _entity_dicts(self.ranked),
            "ranking": [
                {"entity": entity, "probability": p}
                for entity, p in zip(self.ranking, rounded, strict=True)
            ],
            "next_findings": [item.to_dict() for item in self.next_findings],
            "red_flags": list(self.red_flags),
            "probability_floor": PROBABILITY_FLOOR,
        }


def _references(entity_refs: list[Any]) -> tuple[str, ...]:
    out = []
    for ref in entity_refs:
        locator = f"doi:{ref.doi}" if ref.doi else ref.url
        out.append(f"{ref.citation} {locator}")
    return tuple(out)


class Engine:
    """Scores cases against a compiled knowledge base.

    Parameters
    ----------
    model : LikelihoodModel
        Compiled tables (see :func:`calcdx.reasoning.model.compile_model`).
    """

    def __init__(self, model: LikelihoodModel) -> None:
        self.model = model
        self._questions: QuestionTable = question_table(model)
        self._log_prior = np.log(model.prior)
        kb = model.kb
        entities = [kb[entity_id] for entity_id in model.entity_ids]
        self._next_steps = [tuple(e.next_steps) for e in entities]
        self._kb_flags = [tuple(e.red_flags) for e in entities]
        self._danger = [e.danger for e in entities]
        self._refs = [_references(e.references) for e in entities]
        self._red_flag_probability = kb.scale.red_flag_probability
        self._prior_list: list[float] = model.prior.tolist()
        calibration = model.calibration
        #: each evidence group's weight inside Calibration.posterior
        self._group_weight = {
            group: calibration.relative_weight(group) for group in EVIDENCE_GROUPS
        }
        self._weighted = any(weight != 1.0 for weight in self._group_weight.values())
        #: log of the reporting factors (stated value, stated absence), which the score
        #: counts at the imaging exponent whatever a finding's group
        self._log_factor = (
            math.log(calibration.unlisted_present),
            math.log(calibration.unlisted_absent),
        )
        self._count_power = calibration.count_power
        self._pooled = calibration.pooled
        self._corrections: dict[str, NDArray[np.float64]] = {}
        if list(model.entity_ids) != sorted(model.entity_ids):
            raise ValueError("the model's entities must be in id order (ties rank by id)")

    def likelihoods(self, evidence: list[Evidence]) -> NDArray[np.float64]:
        """Stack the evidence's likelihoods, shape (n, E) (n may be 0)."""
        if not evidence:
            return np.ones((0, self.model.n_entities))
        return np.stack([item.likelihood for item in evidence])

    def posterior(
        self, likelihood: NDArray[np.float64], evidence: Sequence[Evidence] | None = None
    ) -> NDArray[np.float64]:
        """Calibrated posterior over entities, shape (E,), summing to 1.

        ``model.calibration`` tempers the naive-Bayes product (an exponent on the
        likelihoods of each evidence group) and leaks a little probability to every
        entity.

        Parameters
        ----------
        likelihood : (n, E) ndarray
            P(finding | e) of each stated finding (see :meth:`likelihoods`).
        evidence : sequence of Evidence, optional
            The findings of `likelihood`'s rows, whose groups set their weights; without
            it every row is weighted as imaging evidence.
        """
        log_likelihood = np.log(likelihood)
        if evidence is not None and self._weighted and len(evidence):
            group_weight = self._group_weight
            summed = np.asarray([group_weight[item.group] for item in evidence]) @ log_likelihood
            # L_f = P r_f: the group weight is for log P; log r_f counts at weight 1
            corrections = [
                self._factor_correction(item)
                for item in evidence
                if item.unlisted is not None and group_weight[item.group] != 1.0
            ]
            if corrections:
                summed += np.sum(corrections, axis=0)
        else:
            summed = log_likelihood.sum(axis=0)
        if evidence is not None and self._count_power != 1.0 and len(evidence):
            summed = summed + self._saturation(evidence)
        return self.model.calibration.posterior(summed, self._log_prior)

    def _saturation(self, evidence: Sequence[Evidence]) -> NDArray[np.float64]:
        """``log r (n ** power - n)`` per entity, stated values and stated absences apart.

        The evidence's likelihoods carry the reporting factor once per unlisted value
        (``n`` times); this brings the total to ``n ** power`` times
        (:attr:`calcdx.reasoning.model.Calibration.count_power`). Pooled
        (:attr:`calcdx.reasoning.model.Calibration.pooled`), ``n`` counts both, and each
        factor's ``log r n_f`` is scaled by ``n ** power / n``.
        """
        present = np.zeros(self.model.n_entities)
        absent = np.zeros(self.model.n_entities)
        for item in evidence:
            if item.unlisted is not None:
                if "_absent=" in item.key:
                    absent += item.unlisted
                else:
                    present += item.unlisted
        power = self._count_power
        log_present, log_absent = self._log_factor
        if self._pooled and absent.any():
            total = present + absent
            scale = np.divide(total**power, total, out=np.ones_like(total), where=total > 0)
            return np.asarray(
                (log_present * present + log_absent * absent) * (scale - 1.0), dtype=np.float64
            )
        return np.asarray(
            log_present * (present**power - present) + log_absent * (absent**power - absent),
            dtype=np.float64,
        )

    def _factor_correction(self, item: Evidence) -> NDArray[np.float64]:
        """``(1 - relative weight) log r_f(e)`` of an unlisted-capable finding, shape (E,).

        Added to the group-weighted ``log L_f`` so that the reporting factor counts at
        weight 1 (:class:`calcdx.reasoning.model.Calibration`); cached by finding key.
        """
        cached = self._corrections.get(item.key)
        if cached is None:
            assert item.unlisted is not None
            log_factor = self._log_factor["_absent=" in item.key]
            weight = self._group_weight[item.group]
            cached = np.asarray(((1.0 - weight) * log_factor) * item.unlisted, dtype=np.float64)
            self._corrections[item.key] = cached
        return cached

    def _ratios(self, likelihood: NDArray[np.float64], listed: list[int]) -> NDArray[np.float64]:
        """Likelihood ratio of every finding for every listed entity, shape (n, k)."""
        prior = self.model.prior
        mixture = likelihood @ prior
        chosen = likelihood[:, listed]
        p_not = (mixture[:, None] - chosen * prior[listed]) / (1.0 - prior[listed])
        return np.asarray(chosen / p_not)

    def diagnose(self, case: Case, *, n_next: int = 5) -> Differential:
        """Rank every entity for `case`.

        Parameters
        ----------
        case : Case
            A validated case.
        n_next : int
            How many next findings to suggest.

        Returns
        -------
        Differential
            Deterministic for a given case and knowledge base.
        """
        return self.diagnose_many([case], n_next=n_next)[0]

    def diagnose_many(self, cases: Sequence[Case], *, n_next: int = 5) -> list[Differential]:
        """Rank every entity for each case; the information gains are computed in one pass.

        Parameters
        ----------
        cases : sequence of Case
            Validated cases.
        n_next : int
            How many next findings to suggest per case.

        Returns
        -------
        list of Differential
            In input order; each equals :meth:`diagnose` of that case.
        """
        if len(cases) > BATCH_CHUNK:
            # The records built here hold no reference cycles, so the cyclic garbage
            # collector has nothing to find; pausing it keeps a large batch linear in time.
            paused = gc.isenabled()
            gc.disable()
            try:
                return [
                    differential
                    for start in range(0, len(cases), BATCH_CHUNK)
                    for differential in self._diagnose_chunk(
                        cases[start : start + BATCH_CHUNK], n_next
                    )
                ]
            finally:
                if paused:
                    gc.enable()
        return self._diagnose_chunk(cases, n_next)

    def _diagnose_chunk(self, cases: Sequence[Case], n_next: int) -> list[Differential]:
        if not cases:
            return []
        evidences = [gather_evidence(case, self.model) for case in cases]
        likelihoods = [self.likelihoods(evidence) for evidence in evidences]
        posteriors = np.stack(
            [
                self.posterior(likelihood, evidence)
                for likelihood, evidence in zip(likelihoods, evidences, strict=True)
            ]
        )
        gains = information_gain(posteriors, self._questions)
        # rounded once for the batch: equal gains must tie, whatever the float noise
        rank_keys = np.round(gains, 9)
        return [
            self._differential(
                case, evidences[i], likelihoods[i], posteriors[i], gains[i], rank_keys[i], n_next
            )
            for i, case in enumerate(cases)
        ]

    def _differential(
        self,
        case: Case,
        evidence: list[Evidence],
        likelihood: NDArray[np.float64],
        post: NDArray[np.float64],
        gain: NDArray[np.float64],
        rank_key: NDArray[np.float64],
        n_next: int,
    ) -> Differential:
        ids, names = self.model.entity_ids, self.model.names
        order = np.argsort(-post, kind="stable")  # entities are in id order: ties rank by id
        cut = max(MIN_LISTED, int(np.count_nonzero(post >= PROBABILITY_FLOOR)))
        everything: list[int] = order.tolist()
        listed = everything[:cut]
        probability: list[float] = post.tolist()
        red_flags: list[str] = []
        ranked = []
        ratios = self._ratios(likelihood, listed).T.tolist()
        shared = tuple(evidence)
        for column, i in enumerate(listed):
            flags = self._kb_flags[i]
            danger = self._danger[i]
            if danger is not None and probability[i] >= self._red_flag_probability:
                message = (
                    f"{names[i]} ({danger.kind.replace('_', ' ')}) keeps "
                    f"{probability[i]:.0%}: {danger.message}"
                )
                flags = (message, *flags)
                red_flags.append(message)
            ranked.append(
                RankedEntity(
                    entity=ids[i],
                    name=names[i],
                    probability=probability[i],
                    prior=self._prior_list[i],
                    evidence=shared,
                    likelihood_ratios=tuple(ratios[column]),
                    red_flags=flags,
                    next_steps=self._next_steps[i],
                    references=self._refs[i],
                )
            )
        return Differential(
            case_id=case.id,
            ranked=tuple(ranked),
            next_findings=tuple(
                next_findings(
                    case, post, gain, self.model, self._questions, count=n_next, rank_key=rank_key
                )
            ),
            red_flags=tuple(red_flags),
            probabilities=dict(zip(ids, probability, strict=True)),
            ranking=operator.itemgetter(*everything)(ids),
        )
