"""Background processes: the process registry, the ``process`` effect's commands, signals and
a runner.

* :class:`ProcessRegistry`: records, event logs, handle grants and parked awaiters as plain
  state (timestamps are inputs);
* :func:`apply_process_command`: one ``process`` command against a registry, with what the host
  must do next;
* the signal rules (:func:`signal_request`, :func:`signal_ordinal`, ...);
* wakes: what events of wake-declaring types deliver to sessions (:func:`materialize_wake`,
  :func:`wake_delivery`, :meth:`ProcessRegistry.pending_wakes`);
* :class:`ProcessRunner`: runs started processes on a host, on any driver.
"""

# The names below load on first use (PEP 562), so importing one of this package's value modules
# (lash_core.process.records, events, grants, leases), as lash_core.effects does, never pulls in
# the registry, the runner or the host: the package has no import cycle with lash_core.effects.

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from lash_core.process.commands import CommandDone as CommandDone
    from lash_core.process.commands import CommandParked as CommandParked
    from lash_core.process.commands import CommandStep as CommandStep
    from lash_core.process.commands import SignalDelivery as SignalDelivery
    from lash_core.process.commands import apply_process_command as apply_process_command
    from lash_core.process.commands import resumed_request as resumed_request
    from lash_core.process.commands import signal_event_type as signal_event_type
    from lash_core.process.commands import signal_ordinal as signal_ordinal
    from lash_core.process.commands import signal_replay_key as signal_replay_key
    from lash_core.process.commands import signal_request as signal_request
    from lash_core.process.commands import signal_result as signal_result
    from lash_core.process.commands import signal_wait_identity as signal_wait_identity
    from lash_core.process.commands import signal_wait_state as signal_wait_state
    from lash_core.process.commands import validate_signal_name as validate_signal_name
    from lash_core.process.commands import waiting_request as waiting_request
    from lash_core.process.grants import validate_grant as validate_grant
    from lash_core.process.lifecycle import CORE_EVENT_TYPES as CORE_EVENT_TYPES
    from lash_core.process.lifecycle import terminal_event_type as terminal_event_type
    from lash_core.process.lifecycle import validate_process_id as validate_process_id
    from lash_core.process.registry import ProcessRegistry as ProcessRegistry
    from lash_core.process.results import Appended as Appended
    from lash_core.process.results import AwaitParked as AwaitParked
    from lash_core.process.results import AwaitReady as AwaitReady
    from lash_core.process.results import AwaitStart as AwaitStart
    from lash_core.process.results import Registered as Registered
    from lash_core.process.runner import FAILURE_CLASS as FAILURE_CLASS
    from lash_core.process.runner import ProcessContext as ProcessContext
    from lash_core.process.runner import ProcessFunction as ProcessFunction
    from lash_core.process.runner import ProcessRunner as ProcessRunner
    from lash_core.process.runner import function_name as function_name
    from lash_core.process.service import ProcessLauncher as ProcessLauncher
    from lash_core.process.service import ProcessService as ProcessService
    from lash_core.process.wakes import materialize_wake as materialize_wake
    from lash_core.process.wakes import select_value as select_value
    from lash_core.process.wakes import wake_delivery as wake_delivery
    from lash_core.process.wakes import wake_input_from_payload as wake_input_from_payload

_HOMES: Final[dict[str, str]] = {
    "CommandDone": "lash_core.process.commands",
    "CommandParked": "lash_core.process.commands",
    "CommandStep": "lash_core.process.commands",
    "SignalDelivery": "lash_core.process.commands",
    "apply_process_command": "lash_core.process.commands",
    "resumed_request": "lash_core.process.commands",
    "signal_event_type": "lash_core.process.commands",
    "signal_ordinal": "lash_core.process.commands",
    "signal_replay_key": "lash_core.process.commands",
    "signal_request": "lash_core.process.commands",
    "signal_result": "lash_core.process.commands",
    "signal_wait_identity": "lash_core.process.commands",
    "signal_wait_state": "lash_core.process.commands",
    "validate_signal_name": "lash_core.process.commands",
    "waiting_request": "lash_core.process.commands",
    "validate_grant": "lash_core.process.grants",
    "CORE_EVENT_TYPES": "lash_core.process.lifecycle",
    "terminal_event_type": "lash_core.process.lifecycle",
    "validate_process_id": "lash_core.process.lifecycle",
    "ProcessRegistry": "lash_core.process.registry",
    "Appended": "lash_core.process.results",
    "AwaitParked": "lash_core.process.results",
    "AwaitReady": "lash_core.process.results",
    "AwaitStart": "lash_core.process.results",
    "Registered": "lash_core.process.results",
    "FAILURE_CLASS": "lash_core.process.runner",
    "ProcessContext": "lash_core.process.runner",
    "ProcessFunction": "lash_core.process.runner",
    "ProcessRunner": "lash_core.process.runner",
    "function_name": "lash_core.process.runner",
    "ProcessLauncher": "lash_core.process.service",
    "ProcessService": "lash_core.process.service",
    "materialize_wake": "lash_core.process.wakes",
    "select_value": "lash_core.process.wakes",
    "wake_delivery": "lash_core.process.wakes",
    "wake_input_from_payload": "lash_core.process.wakes",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
