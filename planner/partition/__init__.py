"""Partitioned runs (issue #16): a scenario cut into pieces (区县, cities …) with a halo, each piece run on a Dask
worker, the results stitched into the single run's answer. See docs/scaling.md.

``plan`` (halo, ownership, jobs) → ``task`` (one piece, on a worker) → ``stitch`` (the whole run again) ← ``run`` (the
client); ``cluster`` is the only module that imports Dask.
"""
