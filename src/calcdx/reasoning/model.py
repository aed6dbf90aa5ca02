"""The knowledge base compiled into likelihood tables.

:func:`compile_model` turns the validated entity files into numpy arrays, once,
so that scoring a case is a handful of array look-ups and sums.

The model is naive Bayes over the case-format fields (in the spirit of DXplain's
frequency tables and Kahn-style radiology networks):

* each entity ``e`` has a prior weight from its prevalence tier;
* a multi-valued field value (a pattern, an associated finding, a clinical
  item) is a present/absent finding with P(present | e) from the entity's file
  or, when the file does not list it, from ``background.yaml``;
* a single-valued field (region, location, organ, matrix, extent, evolution,
  each lab) is a categorical distribution: listed values keep their frequency
  (they sum to at most 1), the probability left over is spread explicitly over
  the unlisted values in proportion to the field's background distribution,
  with a floor (see :func:`_categorical_column`); for an ordinal field (extent:
  solitary, few regional, multiple regional, widespread) a share
  ``scale.ordinal_smoothing`` of each value's probability then goes to its
  neighbours on the scale (see :func:`_ordinal_spread`), since where "a few"
  ends and "multiple" begins is the reader's call; a matrix read "indeterminate"
  means "not told apart": any entity's deposit is read so with probability
  ``scale.unresolved_share``, on top of the share its file lists (see
  :func:`_unresolved_reading`);
* every stated value's table is then mixed with its mean over the entities,
  ``(1 - scale.finding_noise_share) P + scale.finding_noise_share mean`` (see
  :func:`_with_noise`), so that no single finding can rule an entity out;
* age and size are bell curves over the entity's typical range (read as the
  central ``scale.range_coverage`` share of its cases) mixed with a broad
  background; sex is P(female | e).

On top of the tables, :class:`Calibration` (``scale.yaml: calibration``, fitted on
real published cases) weights the terms of the log-score,

    score(e) = a log prior(e) + sum_f [w_g(f) log P(f | e) + w log r_f(e)],

``a`` the prior exponent, ``w_g`` the likelihood exponent of the finding's group
(weighted naive Bayes: imaging, age and sex, at ``w``; the presenting complaint and
signs; the rest of the clinical history with the labs; size), and
``r_f(e)`` a reporting factor: 1 when the entity's file lists the stated value, and
``unlisted_present_factor`` (a stated value) or ``unlisted_absent_factor`` (a stated
absence) when it does not, though the file describes that field (see
:attr:`LikelihoodModel.unlisted`; a value listed at no more than
``scale.weakly_listed_max`` counts as unlisted here, :func:`_weakly_listed`). The
factors model how published cases are written: a stated finding, and above all a
stated absence, is a finding the writer thought worth mentioning, which is what the
files of the entities in question list.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Final

import numpy as np
from numpy.typing import NDArray

from calcdx.case.vocabulary import CATEGORICAL_FIELDS, MULTI_FIELDS, load_vocabulary
from calcdx.kb.loader import KnowledgeBase, load_knowledge_base
from calcdx.kb.schema import Entity, Range

__all__ = [
    "EVIDENCE_GROUPS",
    "LAB_PREFIX",
    "ORDINAL_FIELDS",
    "PRESENTATION_VALUES",
    "Calibration",
    "LikelihoodModel",
    "calibration_of",
    "compile_model",
    "default_model",
    "evidence_group",
]

#: Single-valued fields whose values form an ordered scale (in vocabulary order), whose
#: neighbouring values readers tell apart inconsistently: ``scale.ordinal_smoothing``.
ORDINAL_FIELDS: Final = ("extent",)

#: Values of a single-valued field that mean "not told apart" rather than a kind of their
#: own: the reader saw the deposit but could not say which of the field's other values it
#: is (``scale.unresolved_share``, :func:`_unresolved_reading`).
UNRESOLVED_VALUES: Final = {"matrix": "indeterminate"}

#: Field name used for a lab in finding keys, e.g. ``labs.phosphate``.
LAB_PREFIX: Final = "labs."


FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class RangeTable:
    """Bell-curve parameters per entity for a numeric field (age or log size).

    Attributes
    ----------
    centre, sd : (E,) ndarray
        Mean and standard deviation of the bell curve, in the field's scale.
    known : (E,) ndarray of bool
        Whether the entity gives a typical range (else only the background).
    background_density : float
        Density of the broad background in the same scale.
    share : float
        Weight of the background in the mixture.
    log_scale : bool
        Whether values are compared on a log scale (size) or linearly (age).
    """

    centre: FloatArray
    sd: FloatArray
    known: NDArray[np.bool_]
    background_density: float
    share: float
    log_scale: bool

    def likelihood(self, value: float) -> FloatArray:
        """Return p(value | e) for every entity, shape (E,)."""
        x = float(np.log(max(value, 1e-3))) if self.log_scale else float(value)
        z = (x - self.centre) / self.sd
        bell = np.exp(-0.5 * z * z) / (self.sd * np.sqrt(2 * np.pi))
        mixed = (1 - self.share) * bell + self.share * self.background_density
        return np.where(self.known, mixed, self.background_density)


#: Groups of evidence the calibration weights apart (:meth:`Calibration.group_exponent`):
#: the presenting complaint and signs (:data:`PRESENTATION_VALUES`), the rest of the
#: clinical history with the labs, the size, and everything else (imaging, age, sex).
EVIDENCE_GROUPS: Final = ("imaging", "presentation", "clinical", "size")

#: Clinical values that are the presenting complaint or sign rather than a history:
#: stated in nearly every published case whatever its cause, with rough frequencies in the
#: entity files, so they are weighted as their own evidence group.
PRESENTATION_VALUES: Final = frozenset(
    {
        "acute_pain",
        "chronic_pain",
        "palpable_mass",
        "fever",
        "local_inflammation",
        "raised_inflammatory_markers",
        "dysphagia_odynophagia",
        "renal_colic",
        "abdominal_pain",
        "recurrent_tonsillitis",
        "meal_time_swelling",
        "neuropathy",
        "asymptomatic",
    }
)


def evidence_group(field: str, value: str | None = None) -> str:
    """The group of :data:`EVIDENCE_GROUPS` a finding `field` = `value` belongs to.

    `field` is a case-format field (``clinical``, ``pattern``, ...), ``labs.<lab>``,
    ``size_mm``, ``age_years`` or ``sex``.
    """
    if field == "clinical":
        return "presentation" if value in PRESENTATION_VALUES else "clinical"
    if field.startswith(LAB_PREFIX):
        return "clinical"
    return "size" if field == "size_mm" else "imaging"


@dataclass(frozen=True)
class Calibration:
    """Weights of the log-score and leak towards the uniform distribution.

    ``p(e) = (1 - leak) softmax(prior_exponent log prior(e)
    + sum_f [w_g(f) log P(f | e) + exponent log r_f(e)]) + leak / E``, where ``r_f(e)``
    is ``unlisted_present`` (a stated value) or ``unlisted_absent`` (a stated absence)
    when the entity's file does not list the value, else 1
    (:func:`calcdx.reasoning.evidence.gather_evidence` applies the factors to
    ``L_f = P(f | e) r_f(e)``), and ``w_g`` is the exponent of the finding's group
    (:data:`EVIDENCE_GROUPS`): ``exponent`` for imaging, age and sex,
    ``presentation_exponent`` for the presenting complaint and signs,
    ``clinical_exponent`` for the rest of the clinical history and the labs,
    ``size_exponent`` for the size (each defaults to ``exponent``). The clinical items
    of a case are told together (pain, fever and raised markers; a history and its
    lab) from rough file frequencies, so they may carry less weight per item than the
    imaging findings; the reporting factors (whether the file lists the value at all)
    count alike in every group. ``count_power`` (``scale.unlisted_count_power``) makes
    them saturate: an entity with ``n`` unlisted stated values (stated absences) in a
    case takes the factor ``n ** count_power`` times rather than ``n`` times, since one
    case's unlisted values share a cause (an unusual case, or a file that omits a
    variant) rather than each being independent news. With ``pooled``
    (``scale.unlisted_pooled``) the stated values and the stated absences are one count:
    ``n`` is their sum, each factor's share of ``log r`` is scaled by
    ``n ** count_power / n``, and the fit ties the two factors into one
    (:func:`calcdx.reasoning.evaluation.fit_calibration`); without it each saturates
    apart. With equal exponents and ``count_power`` 1 the score is
    ``exponent sum_f log L_f``. ``Calibration()`` is plain naive Bayes. See
    :mod:`calcdx.reasoning.evaluation`.
    """

    exponent: float = 1.0
    leak: float = 0.0
    prior_exponent: float = 1.0
    unlisted_present: float = 1.0
    unlisted_absent: float = 1.0
    presentation_exponent: float | None = None
    clinical_exponent: float | None = None
    size_exponent: float | None = None
    count_power: float = 1.0
    pooled: bool = False

    def group_exponent(self, group: str) -> float:
        """The likelihood exponent of an evidence group (:data:`EVIDENCE_GROUPS`)."""
        stated = {
            "presentation": self.presentation_exponent,
            "clinical": self.clinical_exponent,
            "size": self.size_exponent,
        }.get(group)
        return self.exponent if stated is None else stated

    def relative_weight(self, group: str) -> float:
        """``w_g / exponent``: the weight of a group's ``log P`` inside :meth:`posterior`."""
        return self.group_exponent(group) / self.exponent

    def posterior(self, log_likelihood: FloatArray, log_prior: FloatArray) -> FloatArray:
        """Calibrated posteriors, shape (n, E), from log-likelihoods (n, E).

        `log_likelihood` sums each finding's ``log P(f | e)`` times the relative weight
        of its group (:meth:`relative_weight`) plus ``log r_f(e)``: the plain sum of
        ``log L_f`` when the exponents are equal.
        """
        logits = self.prior_exponent * log_prior + self.exponent * log_likelihood
        logits = logits - logits.max(axis=-1, keepdims=True)
        post = np.exp(logits)
        post /= post.sum(axis=-1, keepdims=True)
        return np.asarray((1.0 - self.leak) * post + self.leak / post.shape[-1])


@dataclass(frozen=True)
class LikelihoodModel:
    """Likelihood tables for every finding the case format can state.

    Attributes
    ----------
    entity_ids : tuple of str
        Entity ids, in the order of every array's last axis (length E).
    names : tuple of str
        Display names, same order.
    prior : (E,) ndarray
        Prior probabilities (prior tier weights, normalised).
    presence : dict of (field, value) to (E,) ndarray
        P(value present | e) for multi-valued fields.
    categorical : dict of (field, value) to (E,) ndarray
        P(field = value | e) for single-valued fields and labs (``labs.<lab>``).
    female : (E,) ndarray
        P(female | e).
    age, size : RangeTable
        Age in years and largest dimension in mm.
    unlisted : dict of (field, value) to (E,) ndarray of bool
        For every key of ``presence`` and ``categorical``: the entity's file does not
        list the value (or lists it weakly, :func:`_weakly_listed`) although it lists
        some value of that field (of that lab).
    stated, stated_absent : dict of (field, value) to (E,) ndarray
        Derived: the likelihood of a stated value (of ``categorical`` or ``presence``)
        and of a stated absence (``1 - presence``), times the calibration's reporting
        factor where the value is unlisted.
    calibration : Calibration
        Exponent and leak of ``scale.yaml`` (``calibration``).
    """

    entity_ids: tuple[str, ...]
    names: tuple[str, ...]
    prior: FloatArray
    presence: dict[tuple[str, str], FloatArray]
    categorical: dict[tuple[str, str], FloatArray]
    female: FloatArray
    age: RangeTable
    size: RangeTable
    kb: KnowledgeBase
    unlisted: dict[tuple[str, str], NDArray[np.bool_]]
    calibration: Calibration = Calibration()
    #: The evidence tables with the calibration's reporting factors applied (built
    #: here, so that a model replaced with another calibration gets its own).
    stated: dict[tuple[str, str], FloatArray] = dataclasses.field(
        init=False, repr=False, compare=False
    )
    stated_absent: dict[tuple[str, str], FloatArray] = dataclasses.field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        calibration = self.calibration

        def factored(table: FloatArray, key: tuple[str, str], absent: bool) -> FloatArray:
            factor = calibration.unlisted_absent if absent else calibration.unlisted_present
            return table if factor == 1.0 else np.where(self.unlisted[key], table * factor, table)

        stated = {key: factored(p, key, False) for key, p in self.categorical.items()}
        stated.update({key: factored(p, key, False) for key, p in self.presence.items()})
        object.__setattr__(self, "stated", stated)
        object.__setattr__(
            self,
            "stated_absent",
            {key: factored(1.0 - p, key, True) for key, p in self.presence.items()},
        )

    @property
    def n_entities(self) -> int:
        """Number of entities E."""
        return len(self.entity_ids)

    def index(self, entity_id: str) -> int:
        """Position of `entity_id` along the entity axis."""
        return self.entity_ids.index(entity_id)


def _categorical_column(
    kb: KnowledgeBase,
    listed: dict[str, float],
    values: tuple[str, ...],
    background: dict[str, float],
) -> FloatArray:
    """P(value | entity) over `values` for one entity and one single-valued field.

    The listed values keep their numbers (the loader has checked that they sum to
    at most 1). What they leave, ``1 - sum``, is spread over the unlisted values in
    proportion to the field's background distribution, each unlisted value getting
    at least ``scale.unlisted_single_value_floor``. Only when those floors need more
    room than the listed values leave are the listed values scaled down together to
    make it; only when every value is listed and they sum below 1 is the column
    normalised.
    """
    floor = kb.scale.unlisted_single_value_floor
    probs = np.array([listed.get(value, 0.0) for value in values], dtype=float)
    unlisted = np.array([value not in listed for value in values])
    if unlisted.any():
        weights = np.array([background.get(value, 1.0) for value in values])[unlisted]
        left = max(0.0, 1.0 - float(probs.sum()))
        spread = np.maximum(floor, left * weights / weights.sum())
        listed_total = float(probs.sum())
        room = 1.0 - float(spread.sum())
        if listed_total > room:
            probs *= room / listed_total
        probs[unlisted] = spread
    return np.asarray(probs / probs.sum(), dtype=np.float64)


def _ordinal_spread(n_values: int, share: float) -> FloatArray:
    """(V, V) matrix moving probability between neighbouring values of an ordinal scale.

    Each value gives ``share / 2`` of its probability to each of its neighbours on
    the scale and keeps the rest (``1 - share`` in the middle, ``1 - share / 2`` at
    the ends, which have one neighbour), so every column still sums to 1.
    """
    spread = np.zeros((n_values, n_values))
    for i in range(n_values):
        neighbours = [j for j in (i - 1, i + 1) if 0 <= j < n_values]
        for j in neighbours:
            spread[j, i] = share / 2
        spread[i, i] = 1.0 - share / 2 * len(neighbours)
    return spread


def _unresolved_reading(table: FloatArray, row: int, share: float) -> FloatArray:
    """The (V, E) table of a field read with a value meaning "not told apart" at `row`.

    Whatever the entity's deposit really is, the reader leaves it unresolved with
    probability `share`, the same for every kind; only the entity's listed share of that
    value (an artefact or a foreign body listed as indeterminate) is read so on purpose:

        P'(unresolved | e) = P(unresolved | e) + share (1 - P(unresolved | e)),
        P'(v | e) = (1 - share) P(v | e) for every other value v.

    So an entity whose calcification and ossification shares sum to 1 is not near the floor
    for an indeterminate reading: its likelihood is `share`. Columns still sum to 1.
    """
    out = (1.0 - share) * table
    out[row] = table[row] + share * (1.0 - table[row])
    return np.asarray(out, dtype=np.float64)


def _with_noise(table: FloatArray, share: float) -> FloatArray:
    """Mix P(finding | e) with its mean over the entities: ``(1 - share) P + share mean``.

    A reported finding is, with probability `share`, unrelated to the entity (misread,
    coincidental, or a feature of the case its entity's file does not describe) and then
    as common as it is across the knowledge base; so no single finding, stated or stated
    absent, can rule an entity out. A categorical column still sums to 1 and a presence
    P and its absence ``1 - P`` mix alike.
    """
    return np.asarray((1.0 - share) * table + share * float(table.mean()), dtype=np.float64)


def _range_table(
    spans: list[Range | None],
    share: float,
    background: tuple[float, float],
    log_scale: bool,
    coverage: float,
) -> RangeTable:
    """Bell curves reading each typical range as the central `coverage` share of cases."""
    widths = 2 * NormalDist().inv_cdf((1 + coverage) / 2)  # e.g. 0.9 -> 2 x 1.645 sd
    low, high = background
    if log_scale:
        low, high = np.log(max(low, 1e-3)), np.log(high)
    centre, sd, known = [], [], []
    for span in spans:
        if span is None:
            centre.append(0.0)
            sd.append(1.0)
            known.append(False)
            continue
        a, b = (
            (np.log(max(span.min, 1e-3)), np.log(span.max)) if log_scale else (span.min, span.max)
        )
        centre.append((a + b) / 2)
        sd.append(max((b - a) / widths, 0.1 if log_scale else 1.0))
        known.append(True)
    return RangeTable(
        centre=np.array(centre),
        sd=np.array(sd),
        known=np.array(known),
        background_density=1.0 / (high - low),
        share=share,
        log_scale=log_scale,
    )


def _weakly_listed(kb: KnowledgeBase, probability: float) -> bool:
    """Whether a listed value counts as unlisted for the reporting factor.

    A value an entity's file lists at no more than ``scale.weakly_listed_max`` (and
    above the word ``never``, which states an exclusion the file means) is a rare
    exception, most often added for one published case; such listings say little
    about how the entity's cases are written up, so the reporting factor treats the
    value as unlisted while its frequency stays what the file says.
    """
    return kb.scale.frequency["never"] < probability <= kb.scale.weakly_listed_max


def compile_model(kb: KnowledgeBase) -> LikelihoodModel:
    """Compile a knowledge base into likelihood tables.

    Parameters
    ----------
    kb : KnowledgeBase
        A validated knowledge base.

    Returns
    -------
    LikelihoodModel
        The tables; every probability strictly between 0 and 1.
    """
    vocabulary = load_vocabulary()
    entities: list[Entity] = list(kb)
    prior = np.array([kb.scale.prior_tier[e.prior.tier] for e in entities], dtype=float)
    prior /= prior.sum()

    presence: dict[tuple[str, str], FloatArray] = {}
    unlisted: dict[tuple[str, str], NDArray[np.bool_]] = {}
    for field in MULTI_FIELDS:
        per_entity = [getattr(entity.findings, field) for entity in entities]
        for value in vocabulary.values(field):
            column = [
                kb.probability(listed[value])
                if value in listed
                else kb.background_multi(field, value)
                for listed in per_entity
            ]
            presence[(field, value)] = np.clip(np.array(column), 1e-4, 1 - 1e-4)
            unlisted[(field, value)] = np.array(
                [
                    bool(listed)
                    and (value not in listed or _weakly_listed(kb, kb.probability(listed[value])))
                    for listed in per_entity
                ]
            )

    categorical: dict[tuple[str, str], FloatArray] = {}
    fields: list[tuple[str, tuple[str, ...], dict[str, float], list[dict[str, float]]]] = []
    for field in CATEGORICAL_FIELDS:
        listed_per_entity = [
            {v: kb.probability(f) for v, f in getattr(e.findings, field).items()} for e in entities
        ]
        fields.append((field, vocabulary.values(field), {}, listed_per_entity))
    lab_background = kb.background.single.get("lab_level", {})
    for lab in vocabulary.values("labs"):
        listed_per_entity = [
            {v: kb.probability(f) for v, f in e.labs.get(lab, {}).items()} for e in entities
        ]
        fields.append(
            (LAB_PREFIX + lab, vocabulary.values("lab_level"), lab_background, listed_per_entity)
        )
    for field, values, background, listed_per_entity in fields:
        table = np.stack(
            [_categorical_column(kb, listed, values, background) for listed in listed_per_entity],
            axis=1,
        )
        if field in ORDINAL_FIELDS:
            table = _ordinal_spread(len(values), kb.scale.ordinal_smoothing) @ table
        unresolved = UNRESOLVED_VALUES.get(field)
        if unresolved is not None:
            table = _unresolved_reading(table, values.index(unresolved), kb.scale.unresolved_share)
        for row, value in enumerate(values):
            categorical[(field, value)] = table[row]
            # an unresolved reading is the reader's, not a value the entity's file omits
            unlisted[(field, value)] = np.array(
                [
                    bool(listed)
                    and (value not in listed or _weakly_listed(kb, listed[value]))
                    and value != unresolved
                    for listed in listed_per_entity
                ]
            )

    noise = kb.scale.finding_noise_share
    if noise > 0:
        presence = {key: _with_noise(p, noise) for key, p in presence.items()}
        categorical = {key: _with_noise(p, noise) for key, p in categorical.items()}

    female = np.array(
        [kb.probability(e.female) if e.female is not None else 0.5 for e in entities], dtype=float
    )
    share = kb.scale.range_background_share
    coverage = kb.scale.range_coverage
    return LikelihoodModel(
        entity_ids=tuple(e.id for e in entities),
        names=tuple(e.name for e in entities),
        prior=prior,
        presence=presence,
        categorical=categorical,
        female=np.clip(female, 0.01, 0.99),
        age=_range_table(
            [e.age_years for e in entities], share, kb.scale.age_background_years, False, coverage
        ),
        size=_range_table(
            [e.size_mm for e in entities], share, kb.scale.size_background_mm, True, coverage
        ),
        kb=kb,
        unlisted=unlisted,
        calibration=calibration_of(kb),
    )


def calibration_of(kb: KnowledgeBase) -> Calibration:
    """The :class:`Calibration` that ``scale.yaml: calibration`` states."""
    stated = kb.scale.calibration
    return Calibration(
        exponent=stated.likelihood_exponent,
        leak=stated.leak,
        prior_exponent=stated.prior_exponent,
        unlisted_present=stated.unlisted_present_factor,
        unlisted_absent=stated.unlisted_absent_factor,
        presentation_exponent=stated.presentation_likelihood_exponent,
        clinical_exponent=stated.clinical_likelihood_exponent,
        size_exponent=stated.size_likelihood_exponent,
        count_power=kb.scale.unlisted_count_power,
        pooled=kb.scale.unlisted_pooled,
    )


@lru_cache(maxsize=1)
def default_model() -> LikelihoodModel:
    """The compiled packaged knowledge base (built once per process)."""
    return compile_model(load_knowledge_base())
