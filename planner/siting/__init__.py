"""Siting: candidate sites, the covering / capacitated / p-median MILPs (HiGHS), and suggestions explained per site.

May import: :mod:`planner.analysis`, :mod:`planner.engine`, :mod:`planner.network`, :mod:`planner.io` and the
base modules; never :mod:`planner.outputs`.
"""
