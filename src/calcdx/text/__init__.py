"""Free-text reader: a finding described in plain English to a ``calcdx-case/1`` case.

Built on spaCy (a blank English pipeline, nothing downloaded) with negspacy's
NegEx for negation, uncertainty and family history, and phrase rules generated
from the case-format vocabulary plus the synonym lexicon ``data/lexicon.yaml``.
"""

from calcdx.text.lexicon import Lexicon, load_lexicon
from calcdx.text.reader import (
    Phrase,
    Reading,
    ReadValue,
    SetAside,
    TextReader,
    default_reader,
    read_text,
)

__all__ = [
    "Lexicon",
    "Phrase",
    "ReadValue",
    "Reading",
    "SetAside",
    "TextReader",
    "default_reader",
    "load_lexicon",
    "read_text",
]
