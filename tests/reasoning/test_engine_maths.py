"""The engine's maths against numbers worked by hand."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from calcdx.case import parse_case
from calcdx.kb import default_kb_path, load_knowledge_base
from calcdx.reasoning import Engine, compile_model
from calcdx.reasoning.evaluation import LabelledCase, calibrated_posterior, raw_features
from calcdx.reasoning.evidence import gather_evidence

REFERENCE = {
    "key": "R1",
    "citation": "Freire V, et al. Insights Imaging 2018;9:477-492.",
    "doi": "10.1007/s13244-018-0619-0",
}


def entity(entity_id, tier, findings, **extra):
    return {
        "id": entity_id,
        "name": entity_id.replace("_", " ").title(),
        "mechanism": "dystrophic",
        "prior": {"tier": tier, "basis": "qualitative: test entity"},
        "findings": findings,
        "next_steps": ["look again"],
        "references": [REFERENCE],
        "codes_note": "test entity: no standard code",
        **extra,
    }


@pytest.fixture
def two_entity_engine(tmp_path: Path) -> Engine:
    folder = tmp_path / "kb"
    (folder / "entities").mkdir(parents=True)
    shutil.copy(default_kb_path() / "background.yaml", folder / "background.yaml")
    # plain naive Bayes: calibration has its own hand-worked test below
    scale = yaml.safe_load((default_kb_path() / "scale.yaml").read_text("utf-8"))
    scale["calibration"] = {"likelihood_exponent": 1.0, "leak": 0.0, "fitted_on": None}
    scale["finding_noise_share"] = 0.0  # plain naive Bayes, checked by hand
    scale["weakly_listed_max"] = 0.0  # a listed value is listed, whatever its frequency
    scale["unlisted_count_power"] = 1.0  # one reporting factor per unlisted value
    (folder / "scale.yaml").write_text(yaml.safe_dump(scale))
    # A: common (weight 0.3), punctate "often" (0.5), gout "usual" (0.75)
    # B: uncommon (weight 0.1), punctate "rare" (0.03), gout unlisted -> background "rare" (0.03)
    a = entity("alpha", "common", {"pattern": {"punctate": "often"}, "clinical": {"gout": "usual"}})
    b = entity("beta", "uncommon", {"pattern": {"punctate": "rare"}})
    for item in (a, b):
        (folder / "entities" / f"{item['id']}.yaml").write_text(yaml.safe_dump(item))
    return Engine(compile_model(load_knowledge_base(folder)))


def test_two_entities_two_findings_by_hand(two_entity_engine):
    case = parse_case(
        {
            "format": "calcdx-case/1",
            "imaging": {"pattern": ["punctate"]},
            "clinical_absent": ["gout"],
        }
    )
    result = two_entity_engine.diagnose(case)
    # priors 0.3 : 0.1 -> 0.75 : 0.25
    # alpha: 0.75 * 0.5 * (1 - 0.75) = 0.09375
    # beta:  0.25 * 0.03 * (1 - 0.03) = 0.007275
    # P(alpha) = 0.09375 / (0.09375 + 0.007275) = 0.927988...
    assert result.probabilities["alpha"] == pytest.approx(0.09375 / 0.101025, rel=1e-9)
    assert result.probabilities["beta"] == pytest.approx(0.007275 / 0.101025, rel=1e-9)
    alpha = result.ranked[0]
    assert alpha.entity == "alpha"
    ratios = {c.finding: c.likelihood_ratio for c in alpha.contributions}
    # with two entities, P(f | not alpha) is beta's likelihood
    assert ratios["pattern=punctate"] == pytest.approx(0.5 / 0.03)
    assert ratios["clinical_absent=gout"] == pytest.approx(0.25 / 0.97)
    assert [c.finding for c in alpha.supports] == ["pattern=punctate"]
    assert [c.finding for c in alpha.against] == ["clinical_absent=gout"]


def test_unknown_is_neutral_absent_is_evidence(two_entity_engine):
    unknown = two_entity_engine.diagnose(parse_case({"format": "calcdx-case/1"}))
    assert unknown.probabilities["alpha"] == pytest.approx(0.75)  # the prior, untouched
    present = two_entity_engine.diagnose(
        parse_case({"format": "calcdx-case/1", "clinical": ["gout"]})
    )
    absent = two_entity_engine.diagnose(
        parse_case({"format": "calcdx-case/1", "clinical_absent": ["gout"]})
    )
    # present: 0.75*0.75 : 0.25*0.03 ; absent: 0.75*0.25 : 0.25*0.97
    assert present.probabilities["alpha"] == pytest.approx(0.5625 / (0.5625 + 0.0075))
    assert absent.probabilities["alpha"] == pytest.approx(0.1875 / (0.1875 + 0.2425))


def test_next_finding_information_gain_by_hand(two_entity_engine):
    result = two_entity_engine.diagnose(parse_case({"format": "calcdx-case/1"}))
    best = result.next_findings[0]
    # Question "gout?": P(yes) = 0.75*0.75 + 0.25*0.03 = 0.57
    p = np.array([0.75, 0.25])

    def h(q):
        q = q[q > 0]
        return float(-(q * np.log2(q)).sum())

    yes = np.array([0.75 * 0.75, 0.25 * 0.03])
    no = np.array([0.75 * 0.25, 0.25 * 0.97])
    gain_gout = h(p) - (yes.sum() * h(yes / yes.sum()) + no.sum() * h(no / no.sum()))
    yes = np.array([0.75 * 0.5, 0.25 * 0.03])
    no = np.array([0.75 * 0.5, 0.25 * 0.97])
    gain_punctate = h(p) - (yes.sum() * h(yes / yes.sum()) + no.sum() * h(no / no.sum()))
    assert gain_gout > gain_punctate
    assert (best.field, best.value) == ("clinical", "gout")
    assert best.information_bits == pytest.approx(gain_gout, rel=1e-9)


def test_same_case_same_output():
    from calcdx.reasoning import diagnose

    case = parse_case({"format": "calcdx-case/1", "imaging": {"region": "shoulder"}})
    assert diagnose(case).to_dict() == diagnose(case).to_dict()


def test_red_flag_raised_for_dangerous_entity_not_first():
    from calcdx.reasoning import diagnose

    case = parse_case(
        {
            "format": "calcdx-case/1",
            "patient": {"age_years": 62},
            "clinical_absent": ["trauma_recent"],
            "imaging": {
                "region": "thigh",
                "location": "muscle",
                "pattern": ["amorphous_cloudy"],
                "associated": ["soft_tissue_mass", "enhancing_solid_component"],
                "evolution": "growing",
            },
        }
    )
    result = diagnose(case)
    flagged = [
        r.entity
        for r in result.ranked
        if r.probability >= 0.03 and load_knowledge_base()[r.entity].danger is not None
    ]
    assert flagged
    assert len(result.red_flags) == len(flagged)
    for entity_id in flagged:
        assert any(load_knowledge_base()[entity_id].name in flag for flag in result.red_flags)


def test_scale_calibration_tempers_the_posterior(tmp_path: Path):
    folder = tmp_path / "kb"
    (folder / "entities").mkdir(parents=True)
    shutil.copy(default_kb_path() / "background.yaml", folder / "background.yaml")
    scale = yaml.safe_load((default_kb_path() / "scale.yaml").read_text())
    scale["calibration"] = {"likelihood_exponent": 0.5, "leak": 0.1}
    scale["finding_noise_share"] = 0.0  # plain naive Bayes, checked by hand
    scale["weakly_listed_max"] = 0.0  # a listed value is listed, whatever its frequency
    scale["unlisted_count_power"] = 1.0  # one reporting factor per unlisted value
    (folder / "scale.yaml").write_text(yaml.safe_dump(scale))
    for item in (
        entity("alpha", "common", {"pattern": {"punctate": "often"}}),
        entity("beta", "common", {"pattern": {"punctate": "occasional"}}),
    ):
        (folder / "entities" / f"{item['id']}.yaml").write_text(yaml.safe_dump(item))
    engine = Engine(compile_model(load_knowledge_base(folder)))
    case = parse_case({"format": "calcdx-case/1", "imaging": {"pattern": ["punctate"]}})
    # equal priors; likelihoods 0.5 and 0.1: sqrt ratio = sqrt(5), then a 0.1 leak over 2
    tempered = np.sqrt(5) / (1 + np.sqrt(5))
    expected = 0.9 * tempered + 0.05
    assert engine.diagnose(case).probabilities["alpha"] == pytest.approx(expected, rel=1e-9)


def _engine_with(tmp_path: Path, calibration: dict, items: list[dict], **scale_items) -> Engine:
    folder = tmp_path / "kb"
    (folder / "entities").mkdir(parents=True)
    shutil.copy(default_kb_path() / "background.yaml", folder / "background.yaml")
    scale = yaml.safe_load((default_kb_path() / "scale.yaml").read_text())
    scale["calibration"] = calibration
    scale["finding_noise_share"] = 0.0  # plain naive Bayes, checked by hand
    scale["weakly_listed_max"] = 0.0  # a listed value is listed, whatever its frequency
    scale["unlisted_count_power"] = 1.0  # one reporting factor per unlisted value
    scale.update(scale_items)
    (folder / "scale.yaml").write_text(yaml.safe_dump(scale))
    for item in items:
        (folder / "entities" / f"{item['id']}.yaml").write_text(yaml.safe_dump(item))
    return Engine(compile_model(load_knowledge_base(folder)))


def test_prior_exponent_and_unlisted_factors_by_hand(tmp_path: Path):
    engine = _engine_with(
        tmp_path,
        {
            "prior_exponent": 0.5,
            "likelihood_exponent": 1.0,
            "unlisted_present_factor": 0.4,
            "unlisted_absent_factor": 0.2,
            "leak": 0.0,
        },
        [
            # alpha lists punctate and an associated finding, not bone_erosion
            entity(
                "alpha",
                "common",
                {"pattern": {"punctate": "often"}, "associated": {"soft_tissue_mass": "usual"}},
            ),
            # beta describes its pattern (linear) but not punctate, and no associated finding
            entity("beta", "uncommon", {"pattern": {"linear": "often"}}),
        ],
    )
    case = parse_case(
        {
            "format": "calcdx-case/1",
            "imaging": {"pattern": ["punctate"], "associated_absent": ["bone_erosion"]},
        }
    )
    evidence = {item.key: item for item in gather_evidence(case, engine.model)}
    # unlisted: punctate for beta only (alpha lists it); bone_erosion for alpha only
    # (beta's file says nothing of associated findings, so nothing is unlisted there)
    assert evidence["pattern=punctate"].unlisted.tolist() == [False, True]
    assert evidence["associated_absent=bone_erosion"].unlisted.tolist() == [True, False]
    # punctate: alpha 0.5; beta background rare 0.03 x factor 0.4 = 0.012
    assert evidence["pattern=punctate"].likelihood == pytest.approx([0.5, 0.012])
    # no bone erosion: alpha (1 - 0.03) x factor 0.2 = 0.194; beta 1 - 0.03 = 0.97
    assert evidence["associated_absent=bone_erosion"].likelihood == pytest.approx([0.194, 0.97])
    # priors 0.75 : 0.25 raised to 0.5: 0.8660254 : 0.5
    alpha = np.sqrt(0.75) * 0.5 * 0.194  # 0.0840045
    beta = np.sqrt(0.25) * 0.012 * 0.97  # 0.00582
    assert engine.diagnose(case).probabilities["alpha"] == pytest.approx(
        alpha / (alpha + beta), rel=1e-9
    )


def test_typical_range_read_with_the_scale_coverage(tmp_path: Path):
    items = [
        entity("alpha", "common", {}, age_years={"min": 20, "max": 60}),
        entity("beta", "common", {}),
    ]
    plain = {"likelihood_exponent": 1.0, "leak": 0.0}
    ninety = _engine_with(tmp_path / "a", plain, items, range_coverage=0.9).model
    eighty = _engine_with(tmp_path / "b", plain, items, range_coverage=0.8).model
    # a 90 % interval spans 2 x 1.6449 sd, an 80 % one 2 x 1.2816 sd: 40 years
    assert ninety.age.sd[0] == pytest.approx(40 / (2 * 1.644854), rel=1e-5)
    assert eighty.age.sd[0] == pytest.approx(40 / (2 * 1.281552), rel=1e-5)
    # at 70 years (10 past the range) the wider reading leaves more room
    assert eighty.age.likelihood(70)[0] > ninety.age.likelihood(70)[0]


def test_ordinal_smoothing_of_extent_by_hand(tmp_path: Path):
    extent = {"solitary": 0.6, "few_regional": 0.2, "multiple_regional": 0.1, "widespread": 0.1}
    items = [entity("alpha", "common", {"extent": extent}), entity("beta", "common", {})]
    plain = {"likelihood_exponent": 1.0, "leak": 0.0}
    model = _engine_with(tmp_path, plain, items, ordinal_smoothing=0.5).model
    got = [model.categorical[("extent", v)][0] for v in extent]
    # each value gives 0.25 to each neighbour: solitary keeps 0.75 x 0.6 and gets
    # 0.25 x 0.2 = 0.5; few 0.25 x 0.6 + 0.5 x 0.2 + 0.25 x 0.1 = 0.275;
    # multiple 0.25 x 0.2 + 0.5 x 0.1 + 0.25 x 0.1 = 0.125; widespread 0.025 + 0.075
    assert got == pytest.approx([0.5, 0.275, 0.125, 0.1])
    # without smoothing the listed shares stand
    unsmoothed = _engine_with(tmp_path / "b", plain, items, ordinal_smoothing=0.0).model
    assert [unsmoothed.categorical[("extent", v)][0] for v in extent] == pytest.approx(
        list(extent.values())
    )


def test_indeterminate_matrix_means_not_told_apart_by_hand(tmp_path: Path):
    # alpha's deposits are all calcification or ossification; beta (an artefact-like
    # entity) lists indeterminate readings itself
    items = [
        entity("alpha", "common", {"matrix": {"calcification": 0.6, "ossification": 0.4}}),
        entity("beta", "common", {"matrix": {"foreign_material": 0.7, "indeterminate": 0.3}}),
    ]
    calibration = {"likelihood_exponent": 1.0, "leak": 0.0, "unlisted_present_factor": 0.4}
    model = _engine_with(
        tmp_path, calibration, items, unlisted_single_value_floor=0.005, unresolved_share=0.05
    ).model
    # both columns list shares summing to 1: the three unlisted matrices get the floor
    # 0.005 each and the listed shares are scaled by 0.985 to make room; then every
    # deposit is read indeterminate with probability 0.05 whatever it is:
    # alpha 0.005 + 0.05 x 0.995 = 0.05475; beta 0.985 x 0.3 = 0.2955 + 0.05 x 0.7045
    indeterminate = model.stated[("matrix", "indeterminate")]
    assert indeterminate == pytest.approx([0.05475, 0.330725])
    # "not told apart" is not a value alpha's file omits: no unlisted factor for it
    assert model.unlisted[("matrix", "indeterminate")].tolist() == [False, False]
    # a determinate reading keeps the 0.95 left: alpha calcification 0.95 x 0.985 x 0.6;
    # beta's unlisted calcification 0.95 x 0.005, times the unlisted factor 0.4
    assert model.stated[("matrix", "calcification")] == pytest.approx(
        [0.95 * 0.985 * 0.6, 0.95 * 0.005 * 0.4]
    )
    case = parse_case({"format": "calcdx-case/1", "imaging": {"matrix": "indeterminate"}})
    result = Engine(model).diagnose(case)
    # equal priors: P(alpha) = 0.05475 / (0.05475 + 0.330725)
    assert result.probabilities["alpha"] == pytest.approx(0.05475 / 0.385475, rel=1e-9)
    # with no unresolved share the reading falls back to alpha's floor (0.005), unfactored
    bare = _engine_with(
        tmp_path / "b", calibration, items, unlisted_single_value_floor=0.005, unresolved_share=0
    ).model
    assert bare.stated[("matrix", "indeterminate")] == pytest.approx([0.005, 0.2955])


def test_clinical_evidence_weighted_apart_by_hand(tmp_path: Path):
    calibration = {
        "likelihood_exponent": 1.0,
        "clinical_likelihood_exponent": 0.5,
        "unlisted_present_factor": 0.4,
        "leak": 0.0,
    }
    items = [
        entity(
            "alpha", "common", {"pattern": {"punctate": "often"}, "clinical": {"gout": "usual"}}
        ),
        # beta describes its clinical field (fever) but not gout: gout is unlisted there
        entity(
            "beta", "uncommon", {"pattern": {"punctate": "rare"}, "clinical": {"fever": "often"}}
        ),
    ]
    engine = _engine_with(tmp_path, calibration, items)
    case = parse_case(
        {"format": "calcdx-case/1", "imaging": {"pattern": ["punctate"]}, "clinical": ["gout"]}
    )
    evidence = {item.key: item for item in gather_evidence(case, engine.model)}
    assert evidence["pattern=punctate"].group == "imaging"
    assert evidence["clinical=gout"].group == "clinical"
    # beta's gout: background rare 0.03 x the unlisted factor 0.4 = 0.012
    assert evidence["clinical=gout"].likelihood == pytest.approx([0.75, 0.012])
    # priors 0.75 : 0.25; punctate at exponent 1, gout's P at exponent 0.5 and its
    # reporting factor at the imaging exponent 1
    alpha = 0.75 * 0.5 * np.sqrt(0.75)
    beta = 0.25 * 0.03 * np.sqrt(0.03) * 0.4
    result = engine.diagnose(case)
    assert result.probabilities["alpha"] == pytest.approx(alpha / (alpha + beta), rel=1e-9)
    # the likelihood ratios explaining the ranking stay those of the findings themselves
    ratios = {c.finding: c.likelihood_ratio for c in result.ranked[0].contributions}
    assert ratios["clinical=gout"] == pytest.approx(0.75 / 0.012)
    # a presenting complaint is a group of its own, at the imaging exponent unless set
    pain = parse_case({"format": "calcdx-case/1", "clinical": ["acute_pain"]})
    assert [item.group for item in gather_evidence(pain, engine.model)] == ["presentation"]
    assert engine.model.calibration.group_exponent("presentation") == 1.0


def test_weakly_listed_value_takes_the_reporting_factor_by_hand(tmp_path: Path):
    calibration = {"likelihood_exponent": 1.0, "unlisted_present_factor": 0.4, "leak": 0.0}
    items = [
        entity("alpha", "common", {"pattern": {"punctate": "often"}}),
        # beta lists punctate at 'rare' (0.03) and linear at 'never'; gamma lists punctate
        # at 'occasional' (0.1)
        entity("beta", "common", {"pattern": {"punctate": "rare", "linear": "never"}}),
        entity("gamma", "common", {"pattern": {"punctate": "occasional"}}),
    ]
    case = parse_case({"format": "calcdx-case/1", "imaging": {"pattern": ["punctate"]}})
    strict = _engine_with(tmp_path / "s", calibration, items)
    weak = _engine_with(tmp_path / "w", calibration, items, weakly_listed_max=0.05)

    def punctate(engine: Engine) -> list[float]:
        found = {item.key: item for item in gather_evidence(case, engine.model)}
        return list(found["pattern=punctate"].likelihood)

    # listed values keep their frequencies; only beta's rare listing takes the factor
    assert punctate(strict) == pytest.approx([0.5, 0.03, 0.1])
    assert punctate(weak) == pytest.approx([0.5, 0.03 * 0.4, 0.1])
    # a 'never' listing is an exclusion the file states, not a weak listing
    linear = ("pattern", "linear")
    assert not weak.model.unlisted[linear][weak.model.index("beta")]


def test_unlisted_factors_saturate_with_the_count_power_by_hand(tmp_path: Path):
    calibration = {"likelihood_exponent": 1.0, "unlisted_present_factor": 0.4, "leak": 0.0}
    items = [
        entity("alpha", "common", {"pattern": {"punctate": "often", "linear": "often"}}),
        # beta describes its pattern (popcorn) but lists neither punctate nor linear
        entity("beta", "common", {"pattern": {"popcorn": "often"}}),
    ]
    case = parse_case(
        {"format": "calcdx-case/1", "imaging": {"pattern": ["punctate", "linear"]}}
    )
    engine = _engine_with(tmp_path, calibration, items, unlisted_count_power=0.5)
    # beta: two unlisted values at background rare 0.03, the factor 0.4 taken sqrt(2)
    # times rather than twice; alpha lists both at 0.5
    alpha = 0.5 * 0.5
    beta = 0.03 * 0.03 * 0.4 ** np.sqrt(2)
    result = engine.diagnose(case)
    assert result.probabilities["alpha"] == pytest.approx(alpha / (alpha + beta), rel=1e-9)
    # the evaluation's features and calibrated posterior say the same
    labelled = LabelledCase("t", "alpha", "unknown", "typical", case)
    features = raw_features(engine, [labelled])
    assert features.unlisted_present[0].tolist() == pytest.approx([0.0, np.sqrt(2)])
    posterior = calibrated_posterior(
        features, np.log(engine.model.prior), engine.model.calibration
    )
    assert posterior[0][engine.model.index("alpha")] == pytest.approx(
        alpha / (alpha + beta), rel=1e-9
    )


def test_pooled_unlisted_counts_saturate_together_by_hand(tmp_path: Path):
    factors = {"unlisted_present_factor": 0.4, "unlisted_absent_factor": 0.2}
    calibration = {"likelihood_exponent": 1.0, "leak": 0.0, **factors}
    items = [
        entity(
            "alpha",
            "common",
            {"pattern": {"punctate": "often"}, "associated": {"soft_tissue_mass": "often"}},
        ),
        # beta describes both fields but lists neither punctate nor a soft-tissue mass
        entity(
            "beta",
            "common",
            {"pattern": {"popcorn": "often"}, "associated": {"bone_erosion": "often"}},
        ),
    ]
    case = parse_case(
        {
            "format": "calcdx-case/1",
            "imaging": {"pattern": ["punctate"], "associated_absent": ["soft_tissue_mass"]},
        }
    )
    alpha = 0.5 * 0.5
    for pooled, product in ((False, 0.4 * 0.2), (True, (0.4 * 0.2) ** (np.sqrt(2) / 2))):
        engine = _engine_with(
            tmp_path / str(pooled),
            calibration,
            items,
            unlisted_count_power=0.5,
            unlisted_pooled=pooled,
        )
        # beta: punctate at background rare 0.03, the absent mass at 1 - 0.03; apart, each
        # count is 1 and 1 ** 0.5 = 1; pooled, n = 2 and both factors take sqrt(2) / 2
        beta = 0.03 * 0.97 * product
        result = engine.diagnose(case)
        assert result.probabilities["alpha"] == pytest.approx(alpha / (alpha + beta), rel=1e-9)
        labelled = LabelledCase("t", "alpha", "unknown", "typical", case)
        features = raw_features(engine, [labelled])
        posterior = calibrated_posterior(
            features, np.log(engine.model.prior), engine.model.calibration
        )
        assert posterior[0][engine.model.index("alpha")] == pytest.approx(
            alpha / (alpha + beta), rel=1e-9
        )
