"""calcdx: soft-tissue calcification in radiology.

Knowledge base and differential engine, CT analysis, reports and interfaces.
Not a medical device; not for clinical use.
"""

__version__ = "0.1.0"
