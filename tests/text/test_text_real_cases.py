"""The reader on the held-out real published cases (tests/data/real_cases/, all but batch_a).

The lexicon was developed on batch_a.yaml only; every other batch file is held out.
Truth: the hand transcription of each description (field agreement) and the
published diagnosis (differential top-3).
"""

from pathlib import Path

import pytest
import yaml

from calcdx.reasoning import default_engine
from calcdx.text import default_reader
from calcdx.text.scoring import TOP3_GAP_TARGET, evaluate_descriptions

HELD_OUT_FILES = sorted(
    p for p in (Path(__file__).parents[1] / "data" / "real_cases").glob("batch_*.yaml")
    if p.name != "batch_a.yaml"
)
HELD_OUT = [item for p in HELD_OUT_FILES for item in yaml.safe_load(p.read_text("utf-8")) or []]

pytestmark = pytest.mark.skipif(
    not HELD_OUT, reason="no held-out real case file (tests/data/real_cases/batch_[b-z].yaml)"
)


@pytest.fixture(scope="module")
def result():
    return evaluate_descriptions(default_reader(), default_engine(), HELD_OUT)


def test_field_precision_and_recall_on_held_out_cases(result):
    assert result.below_target() == []


def test_differential_from_text_is_within_005_of_hand_transcription(result):
    assert result.top3_hand - result.top3_text <= TOP3_GAP_TARGET
