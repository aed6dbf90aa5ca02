"""A synthetic CT phantom with planted calcifications and analytic truth.

:func:`make_phantom` builds it in memory; :func:`write_phantom` writes it as
NIfTI, a shuffled DICOM series and ``truth.json`` (``calcdx phantom OUT``).
"""

from calcdx.phantom._build import NOISE_SD_HU, make_phantom
from calcdx.phantom._layout import Acquisition, random_acquisition
from calcdx.phantom._model import LESION_KINDS, Phantom, PlantedLesion, Tissue
from calcdx.phantom.writers import phantom_command, write_dicom_series, write_nifti, write_phantom

__all__ = [
    "LESION_KINDS",
    "NOISE_SD_HU",
    "Acquisition",
    "Phantom",
    "PlantedLesion",
    "Tissue",
    "make_phantom",
    "phantom_command",
    "random_acquisition",
    "write_dicom_series",
    "write_nifti",
    "write_phantom",
]
