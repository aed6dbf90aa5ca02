"""The calcdx web app: the differential form, knowledge-base pages, studies and a REST API.

Build it with :func:`create_app`; ``calcdx serve`` runs it with
:func:`calcdx.web.serve.serve_command`.
"""

from calcdx.web.app import create_app
from calcdx.web.runner import RunAnalysis, default_run_analysis
from calcdx.web.settings import WebSettings

__all__ = ["RunAnalysis", "WebSettings", "create_app", "default_run_analysis"]
