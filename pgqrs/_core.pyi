# Types of the compiled core; pgqrs/_core_py.py is its pure-Python twin and specification.
from collections.abc import Sequence
from datetime import datetime
from typing import Any

COPY_HEADER: bytes
COPY_TRAILER: bytes
COPY_COLUMNS: tuple[str, ...]
MESSAGE_COLUMNS: tuple[str, ...]

class QueueMessage:
    id: int
    queue_id: int
    payload: Any
    enqueued_at: datetime
    vt: datetime
    read_ct: int
    dequeued_at: datetime | None
    producer_worker_id: int | None
    consumer_worker_id: int | None
    def __init__(
        self,
        id: int,
        queue_id: int,
        payload: Any,
        enqueued_at: datetime,
        vt: datetime,
        read_ct: int,
        dequeued_at: datetime | None = ...,
        producer_worker_id: int | None = ...,
        consumer_worker_id: int | None = ...,
    ) -> None: ...
    def to_dict(self) -> dict[str, Any]: ...

class CopyEncoder:
    def __init__(
        self,
        queue_id: int,
        producer_worker_id: int | None,
        enqueued_at: int,
        vt: int,
        max_payload_bytes: int | None,
    ) -> None: ...
    def encode(
        self, payloads: Sequence[Any], ids: Sequence[int], start: int, max_bytes: int
    ) -> tuple[bytes, int]: ...

def encode_jsonb(payload: Any, max_payload_bytes: int | None, index: int | None = ...) -> bytes: ...
def decode_int8(data: bytes) -> int: ...
def decode_int8_array(data: bytes) -> list[int]: ...
def decode_timestamptz(data: bytes) -> datetime: ...
def decode_jsonb(data: bytes) -> Any: ...
def decode_messages(rows: Sequence[Sequence[Any]]) -> list[QueueMessage]: ...
def decode_ids(rows: Sequence[Sequence[Any]]) -> list[int]: ...
