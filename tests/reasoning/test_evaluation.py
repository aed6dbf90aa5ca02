"""Scoring and calibration maths against hand-worked numbers and a known simulation."""

import numpy as np
import pytest

from calcdx.errors import CaseError
from calcdx.reasoning.evaluation import (
    cross_validate,
    fit_calibration,
    load_labelled_cases,
    score,
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
