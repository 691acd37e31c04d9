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

from __future__ import annotations

# lash_core.effects re-exports this package's value types and its process commands carry them:
# load it first, so whichever facade is imported first, the other finds its modules complete.
import lash_core.effects  # noqa: F401
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
