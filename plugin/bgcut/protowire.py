"""The few pieces of the protocol buffer wire format that bgcut's edits of the u2netp graph
need (`onnx` itself is not a dependency): walk a message's fields, rebuild one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

LENGTH_DELIMITED = 2


def edit(data: bytes, path: tuple[int, ...], change: Callable[[bytes], bytes | None]) -> bytes:
    """`data` with every sub-message at `path` replaced by change(it) (None: removed)."""
    out = bytearray()
    for field, raw, payload in fields(data):
        if payload is None or field != path[0]:
            out += raw
            continue
        new = change(payload) if len(path) == 1 else edit(payload, path[1:], change)
        if new is not None:
            out += message(field, new)
    return bytes(out)


def fields(data: bytes) -> Iterator[tuple[int, bytes, bytes | None]]:
    """(field number, the field's raw bytes, its payload if length-delimited else None)."""
    i = 0
    while i < len(data):
        start = i
        tag, i = varint(data, i)
        kind = tag & 7
        payload = None
        if kind == 0:
            _, i = varint(data, i)
        elif kind == 1:
            i += 8
        elif kind == 5:
            i += 4
        elif kind == LENGTH_DELIMITED:
            size, i = varint(data, i)
            payload = data[i : i + size]
            i += size
        else:
            raise ValueError(f"unsupported protobuf wire type {kind}")
        if i > len(data):
            raise ValueError("truncated protobuf")
        yield tag >> 3, data[start:i], payload


def varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def message(field: int, payload: bytes) -> bytes:
    return encode_varint(field << 3 | LENGTH_DELIMITED) + encode_varint(len(payload)) + payload
