"""Analysis on walking distances: coverage per compound, 街道 summaries, capacity (E2SFCA), 一刻钟便民生活圈,
the standards as data and their evaluation per 街道, and the display geometry of reach (isochrones).

May import: :mod:`planner.engine`, :mod:`planner.network`, :mod:`planner.io` and the base modules.
"""
