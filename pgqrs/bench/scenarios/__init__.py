"""The scenarios, by subject: producing (:mod:`.enqueue`), loading a file with the command
(:mod:`.load`), consuming (:mod:`.drain`), the compiled core (:mod:`.core`) and waking idle
consumers (:mod:`.notify`)."""

from .core import core_decode_scenario, core_encode_scenario
from .drain import consume_scenario, depth_scenario, drain_scenario
from .enqueue import enqueue_batch_scenario, enqueue_scenario, small_batch_scenario
from .load import file_load_scenario
from .notify import WakeupProbe, notify_scenario, wakeup_latencies

__all__ = [
    "WakeupProbe",
    "consume_scenario",
    "core_decode_scenario",
    "core_encode_scenario",
    "depth_scenario",
    "drain_scenario",
    "enqueue_batch_scenario",
    "enqueue_scenario",
    "file_load_scenario",
    "notify_scenario",
    "small_batch_scenario",
    "wakeup_latencies",
]
