# Types of the compiled core; pgqrs/_core_py.py is its pure-Python twin and specification.
# QueueMessage is declared in pgqrs.types, so users' type checkers see the public name.
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .types import QueueMessage as QueueMessage

COPY_HEADER: bytes
COPY_TRAILER: bytes
COPY_COLUMNS: tuple[str, ...]
MAX_FIELD_BYTES: int
MESSAGE_COLUMNS: tuple[str, ...]

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
