"""`planner serve`: what-if planning in the browser — a FastAPI app over one run and the what-if engine
(:mod:`planner.whatif`), its plans with undo/redo and saving (:mod:`planner.serve.plans`), saved plans listed,
reopened and downloaded (:mod:`planner.serve.saved`), exported as a run's output folder
(:mod:`planner.serve.export`) and compared with the present (:mod:`planner.serve.versus`), and the guards that keep
it safe on an intranet (:mod:`planner.serve.security`). Only the CLI imports it."""

__all__ = ["app", "export", "plans", "saved", "security", "versus"]
