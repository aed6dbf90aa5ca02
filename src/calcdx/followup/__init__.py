"""Follow-up: register two scans of one patient and label what changed (``calcdx compare``)."""

from calcdx.followup.compare import (
    COMPARE_FORMAT,
    Comparison,
    ScanLesions,
    compare_analyzed,
    compare_scans,
    compare_studies,
    write_comparison,
)
from calcdx.followup.match import ChangeConfig, LesionChange, lesion_snapshots, match_lesions
from calcdx.followup.register import RegistrationConfig, RegistrationResult, register

__all__ = [
    "COMPARE_FORMAT",
    "ChangeConfig",
    "Comparison",
    "LesionChange",
    "RegistrationConfig",
    "RegistrationResult",
    "ScanLesions",
    "compare_analyzed",
    "compare_scans",
    "compare_studies",
    "lesion_snapshots",
    "match_lesions",
    "register",
    "write_comparison",
]
