"""The walk network: built from an OSM file or a roads line layer in the metric CRS, and the checks of point
layers against it (GCJ-02/BD-09 shift detection).

May import: :mod:`planner.io`, :mod:`planner.engine` and the base modules.
"""
