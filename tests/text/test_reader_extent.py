"""Extent from the places the lesions are named in (sentences written for these tests)."""

import pytest

from calcdx.text import read_text


@pytest.mark.parametrize(
    "text",
    [
        # the regions name the studies, not the lesion
        "AP pelvis, knee and ankle radiographs showed a calcified nodule beside the knee.",
        # one focus placed from several sides
        "The radiograph showed a focus of calcification beside the proximal humerus, at the "
        "insertion of pectoralis major next to the shoulder and the elbow flexors.",
    ],
)
def test_regions_named_around_one_lesion_are_not_spread(text):
    assert read_text(text).case.imaging.extent not in {"widespread", "multiple_regional"}
