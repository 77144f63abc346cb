"""The u2netp graph with a free batch and picture size, for the local engine's closer views.

The shipped model declares its input as 1×3×320×320. Its layers do not depend on that
size, but onnxruntime refuses any other shape while the graph declares one, so the two
extra views of a crowded picture would each need a full 320×320 pass. Here the graph's
declared input and output shapes get named (free) batch, height and width dimensions, and
the stored shapes of intermediate values are dropped for onnxruntime to infer again: then
both views run as one batch at a smaller size. The weights and nodes are not touched
(at 320×320 the outputs are the same to the bit: tests/test_local_engine.py).

ONNX files are protocol buffers; `onnx` itself is not a dependency, so the few fields
involved are edited in the wire format directly (protowire.py).
"""

from __future__ import annotations

from .protowire import edit, fields, message

# ModelProto.graph, GraphProto.input/output/value_info, ValueInfoProto.type,
# TypeProto.tensor_type, TypeProto.Tensor.shape, TensorShapeProto.dim, Dimension.dim_param
_GRAPH, _INPUT, _OUTPUT, _VALUE_INFO = 7, 11, 12, 13
_TYPE, _TENSOR, _SHAPE, _DIM, _DIM_PARAM = 2, 1, 2, 1, 2
#: Axes made free (N, C, H, W: the channel count stays), and the names they are given.
FREE_AXES = {0: b"batch", 2: b"height", 3: b"width"}


def with_free_size(model: bytes) -> bytes:
    """The same model with free batch, height and width on its inputs and outputs."""
    out = edit(model, (_GRAPH, _VALUE_INFO), lambda _: None)
    for field in (_INPUT, _OUTPUT):
        out = edit(out, (_GRAPH, field, _TYPE, _TENSOR, _SHAPE), _free_dims)
    return out


def _free_dims(shape: bytes) -> bytes:
    out = bytearray()
    axis = 0
    for field, raw, payload in fields(shape):
        if field != _DIM or payload is None:
            out += raw
            continue
        name = FREE_AXES.get(axis)
        out += message(_DIM, message(_DIM_PARAM, name) if name else payload)
        axis += 1
    return bytes(out)
