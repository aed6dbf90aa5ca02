"""The ``calcdx`` command line: a thin layer over the Python API."""
