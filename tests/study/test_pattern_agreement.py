"""Derived patterns against the planted kinds, per kind (issue target: >= 90 %)."""

import pytest

from calcdx.analysis import analyze_volume
from calcdx.findings.derive import derive_groups
from calcdx.phantom import make_phantom
from calcdx.phantom.evaluate import EXPECTED_PATTERN, pattern_agreement


@pytest.fixture(scope="module")
def runs():
    out = {}
    for contrast in (False, True):
        found = []
        for seed in (0, 1):
            phantom = make_phantom(contrast=contrast, seed=seed)
            result = analyze_volume(phantom.volume)
            found.append((phantom, result, derive_groups(result)))
        out[contrast] = found
    return out


def test_every_kind_agrees_on_contrast_studies(runs):
    table = pattern_agreement(runs[True])
    assert set(table) == set(EXPECTED_PATTERN)
    for kind, row in table.items():
        print(f"contrast  {kind:34s} {row.agree}/{row.groups}  {row.called}")
        assert row.rate >= 0.9, kind


def test_every_kind_agrees_on_plain_studies_except_vessel_wall(runs):
    # Without contrast the aortic wall cannot be told from other soft tissue, so its
    # plaques are called by shape only (sheet_like); see the project notes.
    table = pattern_agreement(runs[False])
    for kind, row in table.items():
        print(f"plain     {kind:34s} {row.agree}/{row.groups}  {row.called}")
        if kind != "vessel_wall_plaques":
            assert row.rate >= 0.9, kind
