"""planner: walking-network coverage of services for Chinese cities — gap maps and siting for 15-minute circles."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("planner")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

from planner.errors import LayerError, NetworkError, PlannerError, ScenarioError  # noqa: E402

__all__ = ["__version__", "PlannerError", "ScenarioError", "LayerError", "NetworkError"]
