"""Exception family of planner: every user-facing failure is a PlannerError."""

from __future__ import annotations

__all__ = [
    "PlannerError",
    "ScenarioError",
    "LayerError",
    "NetworkError",
]


class PlannerError(ValueError):
    """Base class: a problem the user can fix; the message says what and how.

    Messages are bilingual: Chinese first, then English after `` / ``.
    """


class ScenarioError(PlannerError):
    """The scenario file is missing, malformed or names something that does not exist."""


class LayerError(PlannerError):
    """An input layer cannot be used as a whole (no CRS, missing column, empty, unreadable)."""


class NetworkError(PlannerError):
    """The walk network cannot be built from the given source."""
