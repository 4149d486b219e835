"""Partitioned runs (issue #16): a province's 街道 split into pieces run on Dask and stitched into one run's answer."""
