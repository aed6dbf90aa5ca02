"""Scoring and calibration maths against hand-worked numbers and a known simulation."""

import numpy as np
import pytest
import yaml

from calcdx.errors import CaseError
from calcdx.kb import default_kb_path
from calcdx.reasoning.evaluation import (
    Features,
    FittedScale,
    calibrated_posterior,
    cross_validate,
    fit_calibration,
    load_labelled_cases,
    score,
    write_fitted_scale,
)
from calcdx.reasoning.model import Calibration


def test_score_hand_worked():
    posterior = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2]])
    truth = np.array([0, 2])
    scores = score(posterior, truth)
    assert scores.top1 == 0.5
    assert scores.top3 == 1.0
    # (0.3^2 + 0.2^2 + 0.1^2) = 0.14 and (0.5^2 + 0.3^2 + 0.8^2) = 0.98
    assert scores.brier == pytest.approx((0.14 + 0.98) / 2)
    assert scores.log_loss == pytest.approx(-(np.log(0.7) + np.log(0.2)) / 2)
    # bins 0.6-0.7 (conf 0.7, right) and 0.4-0.5 (conf 0.5, wrong): ECE = (0.3 + 0.5) / 2
    assert scores.ece == pytest.approx(0.4)
    assert [row[2] for row in scores.reliability] == [1, 1]


def test_calibration_is_a_distribution_and_identity_by_default():
    rng = np.random.default_rng(1)
    log_likelihood = rng.normal(size=(4, 6))
    log_prior = np.log(np.full(6, 1 / 6))
    plain = Calibration().posterior(log_likelihood, log_prior)
    expected = np.exp(log_likelihood) / np.exp(log_likelihood).sum(axis=1, keepdims=True)
    assert plain == pytest.approx(expected)
    leaky = Calibration(0.5, 0.06).posterior(log_likelihood, log_prior)
    assert leaky.sum(axis=1) == pytest.approx(np.ones(4))
    assert leaky.min() >= 0.06 / 6


def test_fit_recovers_the_exponent_that_generated_the_truth():
    # truths drawn from softmax(0.6 x log-likelihood): the fitted exponent must be near 0.6
    rng = np.random.default_rng(7)
    n, e = 3000, 8
    log_likelihood = rng.normal(scale=3.0, size=(n, e))
    log_prior = np.log(np.full(e, 1 / e))
    p = Calibration(0.6, 0.0).posterior(log_likelihood, log_prior)
    truth = np.array([rng.choice(e, p=row) for row in p])
    fitted = fit_calibration(log_likelihood, log_prior, truth)
    assert fitted.exponent == pytest.approx(0.6, abs=0.08)
    held_out, folds = cross_validate(log_likelihood, log_prior, truth, folds=5)
    assert len(folds) == 5
    assert held_out.sum(axis=1) == pytest.approx(np.ones(n))


def test_bad_case_file_names_file_and_case(tmp_path):
    path = tmp_path / "batch_x.yaml"
    path.write_text("- id: rc-x-001\n  truth: not_an_entity\n  case: {format: calcdx-case/1}\n")
    with pytest.raises(CaseError, match=r"batch_x\.yaml: item 0 \(rc-x-001\): truth"):
        load_labelled_cases([path], ["phlebolith"])


def test_fit_recovers_prior_exponent_exponent_and_factors():
    # truths drawn from a known calibration of random features: the fit must find it again
    rng = np.random.default_rng(11)
    n, e = 4000, 6
    features = Features(
        rng.normal(scale=2.0, size=(n, e)),
        rng.integers(0, 3, size=(n, e)).astype(float),
        rng.integers(0, 2, size=(n, e)).astype(float),
    )
    log_prior = np.log(np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.04]))
    true = Calibration(
        exponent=0.7, leak=0.0, prior_exponent=0.4, unlisted_present=0.5, unlisted_absent=0.25
    )
    p = calibrated_posterior(features, log_prior, true)
    # by hand for one row: logits = 0.4 log prior + 0.7 (LL + ln 0.5 n_p + ln 0.25 n_a)
    logits = 0.4 * log_prior + 0.7 * (
        features.log_likelihood[0]
        + np.log(0.5) * features.unlisted_present[0]
        + np.log(0.25) * features.unlisted_absent[0]
    )
    assert p[0] == pytest.approx(np.exp(logits) / np.exp(logits).sum())
    truth = np.array([rng.choice(e, p=row) for row in p])
    fitted = fit_calibration(features, log_prior, truth)
    assert fitted.exponent == pytest.approx(0.7, abs=0.07)
    assert fitted.prior_exponent == pytest.approx(0.4, abs=0.15)
    assert fitted.unlisted_present == pytest.approx(0.5, abs=0.08)
    assert fitted.unlisted_absent == pytest.approx(0.25, abs=0.08)
    assert fitted.leak <= 0.002


def test_write_fitted_scale_rewrites_only_the_fitted_block(tmp_path):
    source = (default_kb_path() / "scale.yaml").read_text("utf-8")
    path = tmp_path / "scale.yaml"
    path.write_text(source, "utf-8")
    calibration = Calibration(
        exponent=0.81, leak=0.005, prior_exponent=0.3, unlisted_present=0.6, unlisted_absent=0.2
    )
    settings = {
        "unlisted_single_value_floor": 0.004,
        "range_coverage": 0.68,
        "ordinal_smoothing": 0.25,
    }
    fitted = FittedScale(settings, calibration, 12, {(0.004, 0.68, 0.25): 1.0})
    write_fitted_scale(path, fitted, "12 test cases")
    before, after = yaml.safe_load(source), yaml.safe_load(path.read_text("utf-8"))
    assert after["calibration"] == {
        "prior_exponent": 0.3,
        "likelihood_exponent": 0.81,
        "unlisted_present_factor": 0.6,
        "unlisted_absent_factor": 0.2,
        "leak": 0.005,
        "fitted_on": "12 test cases",
    }
    for key, value in settings.items():
        assert after[key] == value
    for key in set(before) - {"calibration", *settings}:
        assert after[key] == before[key]
    # the comments stay
    assert path.read_text("utf-8").count("\n#") == source.count("\n#")
    # a file without one of the fitted lines is refused, naming it
    path.write_text(source.replace("\nrange_coverage:", "\nrange_cover:"), "utf-8")
    with pytest.raises(ValueError, match="range_coverage"):
        write_fitted_scale(path, fitted, "12 test cases")


def test_leave_one_batch_out_scores_each_batch_by_a_fit_on_the_others():
    # two batches drawn at different exponents: each batch's posteriors must be those of a
    # calibration fitted on the other batch alone, never on itself
    rng = np.random.default_rng(11)
    e = 6
    log_prior = np.log(np.full(e, 1 / e))
    parts, truths = [], []
    for exponent in (0.4, 1.5):
        log_likelihood = rng.normal(scale=3.0, size=(800, e))
        p = Calibration(exponent, 0.0).posterior(log_likelihood, log_prior)
        parts.append(log_likelihood)
        truths.append(np.array([rng.choice(e, p=row) for row in p]))
    log_likelihood, truth = np.concatenate(parts), np.concatenate(truths)
    groups = ["batch_a"] * 800 + ["batch_b"] * 800
    posterior, fitted = cross_validate(log_likelihood, log_prior, truth, groups=groups)
    assert len(fitted) == 2
    # batch_a is scored by the fit on batch_b (exponent near 1.5), and the other way round
    assert fitted[0].exponent == pytest.approx(1.5, abs=0.25)
    assert fitted[1].exponent == pytest.approx(0.4, abs=0.1)
    on_b = fit_calibration(parts[1], log_prior, truths[1])
    assert posterior[:800] == pytest.approx(calibrated_posterior(parts[0], log_prior, on_b))


def test_pooled_fit_ties_the_two_reporting_factors():
    rng = np.random.default_rng(3)
    n, n_entities = 200, 4
    truth = rng.integers(0, n_entities, n)
    log_prior = np.log(np.full(n_entities, 1 / n_entities))
    log_likelihood = rng.normal(size=(n, n_entities))
    # unlisted values and absences fall mostly on the wrong entities, absences twice as often
    wrong = np.ones((n, n_entities))
    wrong[np.arange(n), truth] = 0
    present = wrong * rng.integers(0, 2, (n, n_entities))
    absent = wrong * rng.integers(0, 3, (n, n_entities))
    features = Features(log_likelihood, present, absent)
    apart = fit_calibration(features, log_prior, truth)
    pooled = fit_calibration(features, log_prior, truth, pooled=True)
    assert pooled.pooled and not apart.pooled
    assert pooled.unlisted_present == pooled.unlisted_absent < 1.0
    assert apart.unlisted_present < 1.0 and apart.unlisted_absent < 1.0
    # one factor for both counts: the factor of their sum fitted alone
    summed = fit_calibration(
        Features(log_likelihood, present + absent, 0 * absent), log_prior, truth
    )
    assert pooled.unlisted_present == pytest.approx(summed.unlisted_present, rel=1e-3)
