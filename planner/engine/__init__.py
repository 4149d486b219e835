"""The reach engine: street arrays, edge snapping, the CSR reach graph and its compiled searches.

Imports numpy, scipy, numba and shapely's vectorised functions only — nothing else of planner, so that it can be
benchmarked, shipped to a worker or replaced on its own.
"""
