"""One exception hierarchy for calcdx.

Every error a user can cause (a bad case file, an unreadable CT study, a broken
knowledge-base entry) is a :class:`CalcdxError`. Its message is one line that
names the problem and says how to fix it; the command-line interface prints that
line and exits with status 2, never a traceback.
"""

from __future__ import annotations

__all__ = [
    "CalcdxError",
    "CaseError",
    "InputError",
    "KnowledgeBaseError",
    "StudyError",
    "TextError",
]


class CalcdxError(Exception):
    """Base class of every error calcdx raises on purpose."""


class CaseError(CalcdxError, ValueError):
    """A case does not follow the case format (``calcdx-case/1``).

    The message names the field, the bad value and the allowed values.
    """


class KnowledgeBaseError(CalcdxError, ValueError):
    """A knowledge-base file is missing, unreadable or fails validation.

    The message names the file, the field and the problem.
    """


class InputError(CalcdxError, ValueError):
    """A file or argument given to calcdx cannot be used as it is."""


class StudyError(InputError):
    """An imaging study cannot be read or does not describe a usable CT volume.

    Raised for non-DICOM files, empty folders, corrupted pixel data, non-CT
    modalities, missing slices and impossible geometry.
    """


class TextError(InputError):
    """A free-text description from which no case can be read (empty or off-topic).

    The message says what was missing and what a usable description states.
    """
