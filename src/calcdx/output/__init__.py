"""Writing what ``calcdx analyze`` produces: ``result.json`` and ``lesions.nii.gz``."""

from calcdx.output.writers import (
    RESULT_FORMAT,
    result_document,
    write_label_map,
    write_outputs,
    write_result_json,
)

__all__ = [
    "RESULT_FORMAT",
    "result_document",
    "write_label_map",
    "write_outputs",
    "write_result_json",
]
