"""Input layers: readers of every supported format, Chinese coordinate systems, validation with per-row rejection,
the facility taxonomy, OSM reading, population estimates, the metric CRS, ``planner fetch`` and the demo district.

May import: :mod:`planner.errors`, :mod:`planner.schema`, :mod:`planner.labels`, :mod:`planner.settings`.
"""
