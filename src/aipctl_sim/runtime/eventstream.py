"""The AWS event stream wire format (``application/vnd.amazon.eventstream``), encoding side.

Each message: total length (4 bytes), headers length (4), prelude CRC32 (4), headers, payload,
message CRC32 (4). Headers are (name length, name, type 7 = string, value length, value).
botocore's ``EventStreamBuffer`` decodes what this encodes (tested).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterable
from typing import Any

CONTENT_TYPE = "application/vnd.amazon.eventstream"


def _headers(values: dict[str, str]) -> bytes:
    out = b""
    for name, value in values.items():
        raw_name, raw_value = name.encode(), value.encode()
        out += struct.pack("!B", len(raw_name)) + raw_name + b"\x07" + struct.pack("!H", len(raw_value)) + raw_value
    return out


def message(headers: dict[str, str], payload: bytes) -> bytes:
    head = _headers(headers)
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack("!II", total, len(head))
    prelude += struct.pack("!I", zlib.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + head + payload
    return body + struct.pack("!I", zlib.crc32(body) & 0xFFFFFFFF)


def event(event_type: str, payload: dict[str, Any]) -> bytes:
    return message(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
        json.dumps(payload, separators=(",", ":")).encode(),
    )


def exception(error_type: str, text: str) -> bytes:
    return message(
        {":exception-type": error_type, ":content-type": "application/json", ":message-type": "exception"},
        json.dumps({"message": text}).encode(),
    )


def stream(events: Iterable[tuple[str, dict[str, Any]]]) -> bytes:
    return b"".join(event(name, payload) for name, payload in events)
