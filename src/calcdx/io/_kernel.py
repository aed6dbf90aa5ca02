"""How sharp a CT series' reconstruction kernel is, from its header words.

A sharp (bone, lung, edge) kernel raises image noise several-fold over a soft-tissue
kernel at the same dose, and noise is what a fixed 130 HU threshold turns into false
deposits. When a study holds the same acquisition reconstructed twice (a soft and a
bone kernel with the same slices), the soft one is the better input. Kernel names are
vendor-specific, so only what the names themselves say is used:

- words in ConvolutionKernel or SeriesDescription: ``SOFT``, ``STANDARD``/``STD``,
  ``SMOOTH`` name soft kernels; ``BONE``, ``LUNG``, ``SHARP``, ``EDGE``, ``DETAIL``
  name sharp ones (GE names its kernels so; Philips and Canon series descriptions
  usually carry the same words);
- Siemens names kernels by a letter (B body, H head, I/Q/Br... for iterative
  reconstructions) and a two-digit number that grows with sharpness (B10f smooth to
  B80f ultra sharp), so between two such kernels the lower number is the smoother.
"""

from __future__ import annotations

import re

__all__ = ["kernel_sharpness"]

_SOFT = ("SOFT", "STANDARD", "STD", "SMOOTH")
_SHARP = ("BONE", "LUNG", "SHARP", "EDGE", "DETAIL")
_SIEMENS = re.compile(r"^[A-Z][a-z]?(\d{2})[a-z]?$")


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Z]+", text.upper()))


def kernel_sharpness(kernel: str, description: str) -> tuple[int, int]:
    """Order series by how sharp their kernel's name says it is (smaller = smoother).

    Parameters
    ----------
    kernel : str
        ConvolutionKernel (values joined by backslashes; may be empty).
    description : str
        SeriesDescription (may be empty).

    Returns
    -------
    tuple of int
        ``(named, number)``: ``named`` is 0 for a soft-named kernel, 1 when the words
        say nothing, 2 for a sharp-named one; ``number`` is the Siemens-style
        sharpness number (0 when there is none). Only the order is meaningful.
    """
    words = _words(kernel) | _words(description)
    sharp = any(name in word for word in words for name in _SHARP)  # BONEPLUS is BONE
    soft = any(name in word for word in words for name in _SOFT)  # STD+ is STD
    named = 2 if sharp else 0 if soft else 1
    numbers = [int(m.group(1)) for part in kernel.split("\\")
               if (m := _SIEMENS.match(part.strip()))]
    return named, max(numbers, default=0)
