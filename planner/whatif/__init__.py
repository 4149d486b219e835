"""What-if planning: a run's facilities edited (added, moved, removed) and its coverage and standards recomputed
incrementally (:mod:`planner.whatif.edits` validates a plan's edits, :mod:`planner.whatif.engine` applies them)."""

from planner.whatif.edits import AddFacility, EditError, Edits, MoveFacility
from planner.whatif.engine import PlanState, WhatIf

__all__ = ["AddFacility", "EditError", "Edits", "MoveFacility", "PlanState", "WhatIf"]
