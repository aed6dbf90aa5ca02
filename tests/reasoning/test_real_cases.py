"""The differential on the development set of real published cases (cross-validated)."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from calcdx.reasoning import default_engine
from calcdx.reasoning.evaluation import Scores, evaluate, evaluate_held_out, load_labelled_cases

REAL = sorted((Path(__file__).parents[1] / "data" / "real_cases").glob("batch_*.yaml"))
SPLIT = Path(__file__).parents[1] / "data" / "real_cases" / "ddx_split.yaml"


needs_real = pytest.mark.skipif(
    not REAL, reason="no real case file (tests/data/real_cases/*.yaml) yet"
)


@pytest.fixture(scope="module")
def evaluation():
    engine = default_engine()
    cases = load_labelled_cases(REAL, engine.model.entity_ids)
    assert len({item.id for item in cases}) == len(cases), "case ids must be unique"
    return evaluate(engine, cases)


def _record(record_property, prefix: str, scores: Scores, label: str) -> None:
    for name in ("top1", "top3", "brier"):
        record_property(prefix + name, getattr(scores, name))
    print(
        f"{label}: n={scores.n} top-1={scores.top1:.3f} top-3={scores.top3:.3f} "
        f"Brier={scores.brier:.3f}"
    )


@needs_real
def test_every_real_case_ranks_its_truth(evaluation):
    scores = evaluation.scores()
    assert scores.n >= 250
    # every case is ranked: the truth has a probability, however small
    assert np.all(evaluation.cross_validated[np.arange(scores.n), evaluation.truth] > 0)


@needs_real
def test_top3_on_real_cases_cross_validated(evaluation, record_property):
    scores = evaluation.scores()
    _record(record_property, "", scores, "real cases, 5-fold cross-validated")
    assert scores.top3 >= 0.85


@needs_real
@pytest.mark.skipif(not SPLIT.exists(), reason="no development / held-out split of the real cases")
@pytest.mark.xfail(
    strict=True,
    reason="measured once with the pooled unlisted factor, fitted on the development files "
    "a, c, e, h, i, j, k (379 cases; leave-one-batch-out there top-1 0.699, top-3 0.934, Brier "
    "0.407), scored on the 197 held-out real cases: top-1 0.650, top-3 0.838, top-5 0.904, "
    "Brier 0.446, ECE 0.103 (hard cases top-3 0.705); with batch l added to the development "
    "files (447 cases) before that change: held out top-1 0.635, top-3 0.843; "
    "the issue asks top-1 >= 0.75, top-3 >= 0.90, Brier <= 0.35 on unseen cases",
)
def test_issue_targets_on_held_out_real_cases(record_property):
    split = yaml.safe_load(SPLIT.read_text("utf-8"))
    folder = SPLIT.parent
    held = evaluate_held_out(
        [folder / name for name in split["development"]],
        [folder / name for name in split["held_out"]],
    )
    # nothing of the held-out cases is fitted: the development fit alone
    assert held.fitted.n_cases == sum(
        len(yaml.safe_load((folder / name).read_text("utf-8"))) for name in split["development"]
    )
    scores = held.scores()
    _record(record_property, "held_out_", scores, "held-out real cases")
    assert scores.top1 >= 0.75
    assert scores.top3 >= 0.90
    assert scores.brier <= 0.35


@needs_real
@pytest.mark.skipif(not SPLIT.exists(), reason="no development / held-out split of the real cases")
def test_ddx_split_names_every_real_case_file_once():
    split = yaml.safe_load(SPLIT.read_text("utf-8"))
    listed = split["development"] + split["held_out"]
    assert len(listed) == len(set(listed)), "a file is in both lists"
    assert sorted(listed) == [path.name for path in REAL], "add new files to ddx_split.yaml"
