"""u2netp's graph as the local engine runs it: upsampling that onnxruntime keeps in its
blocked (NCHWc) layout, and only the fused output.

The shipped graph brings each decoder stage to its skip tensor's size read at run time
(Shape, Gather, Concat into Resize's "sizes"), by PyTorch's half-pixel rule. onnxruntime's
NCHWc transformer keeps a linear Resize in the blocked layout only with constant integer
scales and the "half_pixel" rule, so each of the 38 stages left that layout and came back
(reorders and shape reads: the 84 reorders of the optimised graph become 13). Here every
Resize gets its constant scale and "half_pixel", which is PyTorch's rule for any output
longer than one pixel, and the size computations, no longer read, are dropped. Only the
first output (the fused mask, the one bgcut reads) is kept, so the six side outputs'
sigmoids are not computed either. The model runs in about 0.89× the time (onnxruntime
1.32, 320×256, median of 15 alternating runs); where onnxruntime does not take the
blocked layout it computes the same thing.

The scales hold where every side of the picture is a multiple of 32 (then each of the five
poolings halves it exactly): the local engine reads pictures only at such sizes
(whole_shape, VIEW_ALONG × VIEW_ACROSS). The outputs equal the shipped graph's within float rounding
(tests/test_local_engine.py).
"""

from __future__ import annotations

import struct

from .protowire import edit, fields, message

#: The picture's sides must be multiples of this for SCALES to hold.
SIDE_STEP = 32
#: Each Resize node's scale, in graph order: the decoder stages double, and the side
#: outputs d2..d6 are brought up 2, 4, 8, 16 and 32 times to d1's size.
SCALES = (2,) * 34 + (4, 8, 16, 32)
# ModelProto.graph; GraphProto.node/initializer/output; NodeProto.input/output/op_type/
# attribute; AttributeProto.name/s; ValueInfoProto.name; TensorProto.dims/data_type/name/raw_data
_GRAPH = 7
_NODE, _INITIALIZER, _GRAPH_OUTPUT = 1, 5, 12
_IN, _OUT, _OP_TYPE, _ATTRIBUTE = 1, 2, 4, 5
_NAME, _STRING = 1, 4
_DIMS, _DATA_TYPE, _TENSOR_NAME, _RAW_DATA = 1, 2, 8, 9
_FLOAT = 1
_TRANSFORM = b"coordinate_transformation_mode"


def faster_graph(model: bytes) -> bytes:
    """The model with constant-scale Resize nodes and its first output only; a graph that
    is not the one these scales were read from (another count of Resize nodes or another
    rule) is returned as it came."""
    return edit(model, (_GRAPH,), _graph)


def _graph(graph: bytes) -> bytes:
    nodes = [payload for field, _, payload in fields(graph) if field == _NODE and payload is not None]
    resizes = [i for i, node in enumerate(nodes) if _payloads(node, _OP_TYPE) == [b"Resize"]]
    if len(resizes) != len(SCALES) or not all(_resize_is_as_shipped(nodes[i]) for i in resizes):
        return graph
    for i, scale in zip(resizes, SCALES, strict=True):
        nodes[i] = _constant_resize(nodes[i], _scale_name(scale))
    outputs = _payloads(graph, _GRAPH_OUTPUT)[:1]
    kept = _live(nodes, {name for output in outputs for name in _payloads(output, _NAME)})
    out = bytearray()
    index = 0
    first_output = True
    for field, raw, _ in fields(graph):
        if field == _GRAPH_OUTPUT:
            out += raw if first_output else b""
            first_output = False
            continue
        if field != _NODE:
            out += raw
            continue
        if index in kept:
            out += message(_NODE, nodes[index])
        index += 1
    for scale in sorted(set(SCALES)):
        out += message(_INITIALIZER, _scales_tensor(scale))
    return bytes(out)


def _resize_is_as_shipped(node: bytes) -> bool:
    """Four inputs (the last one "sizes"), linear, PyTorch's half-pixel rule."""
    attributes = dict(_attribute(payload) for payload in _payloads(node, _ATTRIBUTE))
    return (
        len(_payloads(node, _IN)) == 4
        and attributes.get(b"mode") == b"linear"
        and attributes.get(_TRANSFORM) == b"pytorch_half_pixel"
    )


def _constant_resize(node: bytes, scales: bytes) -> bytes:
    """The node reading `scales` instead of run-time sizes, by the "half_pixel" rule."""
    out = bytearray()
    seen = 0
    for field, raw, payload in fields(node):
        if field == _IN:
            seen += 1
            if seen == 3:
                out += message(_IN, scales)
            elif seen < 3:
                out += raw
        elif field == _ATTRIBUTE and payload is not None and _attribute(payload)[0] == _TRANSFORM:
            out += message(_ATTRIBUTE, edit(payload, (_STRING,), lambda _: b"half_pixel"))
        else:
            out += raw
    return bytes(out)


def _live(nodes: list[bytes], outputs: set[bytes]) -> set[int]:
    """Indices of the nodes whose results are read, by a graph output or a live node
    (nodes are in topological order, so one walk from the last one back finds them)."""
    read = set(outputs)
    kept = set()
    for i in range(len(nodes) - 1, -1, -1):
        if read.intersection(_payloads(nodes[i], _OUT)):
            kept.add(i)
            read.update(_payloads(nodes[i], _IN))
    return kept


def _scale_name(scale: int) -> bytes:
    return f"bgcut_resize_scales_{scale}".encode()


def _scales_tensor(scale: int) -> bytes:
    """The float tensor [1, 1, scale, scale] named _scale_name(scale)."""
    return (
        bytes([_DIMS << 3, 4, _DATA_TYPE << 3, _FLOAT])  # dims [4], data_type FLOAT (varints)
        + message(_TENSOR_NAME, _scale_name(scale))
        + message(_RAW_DATA, struct.pack("<4f", 1.0, 1.0, scale, scale))
    )


def _attribute(payload: bytes) -> tuple[bytes, bytes | None]:
    """(name, string value or None) of an AttributeProto."""
    name, value = _payloads(payload, _NAME), _payloads(payload, _STRING)
    return (name[0] if name else b""), (value[0] if value else None)


def _payloads(data: bytes, field: int) -> list[bytes]:
    return [payload for f, _, payload in fields(data) if f == field and payload is not None]
