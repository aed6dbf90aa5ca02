"""Cohorts: many studies through the ``analyze`` pipeline on Dask, with tables and a report."""
