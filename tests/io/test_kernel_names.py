"""Kernel sharpness from header words: vendors' own kernel and series names."""

import pytest

from calcdx.io._kernel import kernel_sharpness


@pytest.mark.parametrize(("smoother", "sharper"), [
    (("B30f", ""), ("B70f", "")),                  # Siemens: the number grows with sharpness
    (("Br40d\\3", ""), ("Br64d\\3", "")),          # ADMIRE names, multi-valued
    (("SOFT", ""), ("BONE", "")),                  # GE
    (("STANDARD", ""), ("LUNG", "")),              # GE
    (("STD+", ""), ("BONEPLUS", "")),              # GE, as the shared head series has it
    (("UB", "STD BRAIN 1MM, iDose"), ("YA", "BONE BRAIN 1MM")),  # Philips (dcm_qa_ct)
    (("FC08", ""), ("FC08", "LUNG 1MM")),          # Canon: only the description says
    (("", ""), ("", "CHEST SHARP")),
])
def test_the_smoother_kernel_orders_first(smoother, sharper):
    assert kernel_sharpness(*smoother) < kernel_sharpness(*sharper)


def test_names_that_say_nothing_are_neither_soft_nor_sharp():
    assert kernel_sharpness("FC08", "")[0] == 1
    assert kernel_sharpness("", "")[0] == 1
