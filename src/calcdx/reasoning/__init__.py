"""The differential engine: naive Bayes over the case format, with explanations."""

from functools import lru_cache

from calcdx.case.model import Case
from calcdx.reasoning.differential import DIFFERENTIAL_FORMAT, Differential, Engine
from calcdx.reasoning.model import LikelihoodModel, compile_model, default_model

__all__ = [
    "DIFFERENTIAL_FORMAT",
    "Differential",
    "Engine",
    "LikelihoodModel",
    "compile_model",
    "default_engine",
    "diagnose",
]


@lru_cache(maxsize=1)
def default_engine() -> Engine:
    """The engine over the packaged knowledge base (built once per process)."""
    return Engine(default_model())


def diagnose(case: Case) -> Differential:
    """Rank the differential for `case` with the packaged knowledge base."""
    return default_engine().diagnose(case)
