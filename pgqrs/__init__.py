"""pgqrs: high-throughput message queues in your own PostgreSQL, asyncio-native.

``pgqrs.__impl__`` tells which core is active: ``"c"`` (compiled) or ``"python"``.
"""

from ._impl import impl as __impl__
from ._version import __version__
from .admin import Admin
from .config import Config, ConfigBuilder
from .consumer import Consumer
from .errors import (
    ConfigurationError,
    DecodeError,
    MessageNotFoundError,
    PayloadTooLargeError,
    PgqrsConnectionError,
    PgqrsError,
    QueueAlreadyExistsError,
    QueueNotFoundError,
    SchemaError,
    SerializationError,
    ValidationError,
    WorkerError,
    WorkerNotFoundError,
)
from .health import Health, HorizonHolder, TableHealth
from .producer import Producer
from .retention import MaintenanceRun, PruneResult, Retention
from .tables import Archive, Messages, Queues, Workers
from .types import (
    ArchivedMessage,
    QueueInfo,
    QueueMessage,
    QueueMetrics,
    ReclaimedWorkers,
    WorkerHealth,
    WorkerInfo,
    WorkerStats,
    WorkerStatus,
)

__all__ = [
    "Admin",
    "Archive",
    "ArchivedMessage",
    "Config",
    "ConfigBuilder",
    "ConfigurationError",
    "Consumer",
    "DecodeError",
    "Health",
    "HorizonHolder",
    "MaintenanceRun",
    "MessageNotFoundError",
    "Messages",
    "PayloadTooLargeError",
    "PgqrsConnectionError",
    "PgqrsError",
    "Producer",
    "PruneResult",
    "QueueAlreadyExistsError",
    "QueueInfo",
    "QueueMessage",
    "QueueMetrics",
    "QueueNotFoundError",
    "Queues",
    "ReclaimedWorkers",
    "Retention",
    "SchemaError",
    "SerializationError",
    "TableHealth",
    "ValidationError",
    "WorkerError",
    "WorkerHealth",
    "WorkerInfo",
    "WorkerNotFoundError",
    "WorkerStats",
    "WorkerStatus",
    "Workers",
    "__impl__",
    "__version__",
]
