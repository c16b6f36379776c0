"""The simulator (``python -m tools.simulator``, see __main__.py): loopback fakes of ARM, devcenter, MSI and Event Grid."""
from .script import INJECTABLE_FAULTS, SCRIPT_FAULTS, ScriptError
from .server import EVENTGRID_CONTENT_TYPE, MSI_API_VERSION, Simulator
from .tokens import ARM_AUDIENCE, DATAPLANE_AUDIENCE, DEVCENTER_AUDIENCE, EVENTGRID_AUDIENCE

__all__ = [
    "Simulator", "ScriptError", "INJECTABLE_FAULTS", "SCRIPT_FAULTS", "EVENTGRID_CONTENT_TYPE", "MSI_API_VERSION",
    "ARM_AUDIENCE", "DEVCENTER_AUDIENCE", "DATAPLANE_AUDIENCE", "EVENTGRID_AUDIENCE",
]
