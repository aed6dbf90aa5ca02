"""Findings derived from measurements (patterns in the case-format vocabulary)."""

from calcdx.findings.patterns import PatternCall, cluster_patterns, lesion_patterns

__all__ = ["PatternCall", "cluster_patterns", "lesion_patterns"]
