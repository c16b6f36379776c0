"""Reusable test helpers: queues on Azurite, waiting with deadlines, run_local subprocesses; builders and fakes for unit tests.

Only ``shared.edges.storage`` of the project is imported here (for the queue clients).
"""

from tests.support.processes import ToolProcess, run_local_command, run_local_process, start_run_local
from tests.support.queues import QueueSet, read_all, unique_queue_prefix, wait_for_messages
from tests.support.wait import WaitTimeout, wait_until

__all__ = [
    "QueueSet",
    "ToolProcess",
    "WaitTimeout",
    "read_all",
    "run_local_command",
    "run_local_process",
    "start_run_local",
    "unique_queue_prefix",
    "wait_for_messages",
    "wait_until",
]
