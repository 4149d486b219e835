"""`planner serve`: what-if planning in the browser — a FastAPI app over one run and the what-if engine
(:mod:`planner.whatif`), its plans with undo/redo and saving (:mod:`planner.serve.plans`) and the guards that keep it
safe on an intranet (:mod:`planner.serve.security`). Only the CLI imports it."""

__all__ = ["app", "plans", "security"]
