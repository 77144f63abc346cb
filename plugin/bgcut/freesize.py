"""The u2netp graph with a free batch and picture size, for the local engine's closer views.

The shipped model declares its input as 1×3×320×320. Its layers do not depend on that
size, but onnxruntime refuses any other shape while the graph declares one, so the two
extra views of a crowded picture would each need a full 320×320 pass. Here the graph's
declared input and output shapes get named (free) batch, height and width dimensions, and
the stored shapes of intermediate values are dropped for onnxruntime to infer again: then
both views run as one batch at a smaller size. The weights and nodes are not touched
(at 320×320 the outputs are the same to the bit: tests/test_local_engine.py).

ONNX files are protocol buffers; `onnx` itself is not a dependency, so the few fields
involved are edited in the wire format directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

# ModelProto.graph, GraphProto.input/output/value_info, ValueInfoProto.type,
# TypeProto.tensor_type, TypeProto.Tensor.shape, TensorShapeProto.dim, Dimension.dim_param
_GRAPH, _INPUT, _OUTPUT, _VALUE_INFO = 7, 11, 12, 13
_TYPE, _TENSOR, _SHAPE, _DIM, _DIM_PARAM = 2, 1, 2, 1, 2
_LENGTH_DELIMITED = 2
#: Axes made free (N, C, H, W: the channel count stays), and the names they are given.
FREE_AXES = {0: b"batch", 2: b"height", 3: b"width"}


def with_free_size(model: bytes) -> bytes:
    """The same model with free batch, height and width on its inputs and outputs."""
    out = _edit(model, (_GRAPH, _VALUE_INFO), lambda _: None)
    for field in (_INPUT, _OUTPUT):
        out = _edit(out, (_GRAPH, field, _TYPE, _TENSOR, _SHAPE), _free_dims)
    return out


def _free_dims(shape: bytes) -> bytes:
    out = bytearray()
    axis = 0
    for field, raw, payload in _fields(shape):
        if field != _DIM or payload is None:
            out += raw
            continue
        name = FREE_AXES.get(axis)
        out += _message(_DIM, _message(_DIM_PARAM, name) if name else payload)
        axis += 1
    return bytes(out)


def _edit(data: bytes, path: tuple[int, ...], change: Callable[[bytes], bytes | None]) -> bytes:
    """`data` with every sub-message at `path` replaced by change(it) (None: removed)."""
    out = bytearray()
    for field, raw, payload in _fields(data):
        if payload is None or field != path[0]:
            out += raw
            continue
        new = change(payload) if len(path) == 1 else _edit(payload, path[1:], change)
        if new is not None:
            out += _message(field, new)
    return bytes(out)


def _fields(data: bytes) -> Iterator[tuple[int, bytes, bytes | None]]:
    """(field number, the field's raw bytes, its payload if length-delimited else None)."""
    i = 0
    while i < len(data):
        start = i
        tag, i = _varint(data, i)
        kind = tag & 7
        payload = None
        if kind == 0:
            _, i = _varint(data, i)
        elif kind == 1:
            i += 8
        elif kind == 5:
            i += 4
        elif kind == _LENGTH_DELIMITED:
            size, i = _varint(data, i)
            payload = data[i : i + size]
            i += size
        else:
            raise ValueError(f"unsupported protobuf wire type {kind}")
        if i > len(data):
            raise ValueError("truncated protobuf")
        yield tag >> 3, data[start:i], payload


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _message(field: int, payload: bytes) -> bytes:
    return _encode_varint(field << 3 | _LENGTH_DELIMITED) + _encode_varint(len(payload)) + payload
