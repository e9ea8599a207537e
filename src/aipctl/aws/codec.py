"""botocore's JSON-protocol codec, compiled per shape: the same answers without its per-value dispatch.

botocore parses an ``awsJson`` response by walking the parsed JSON next to the output shape and
looking a handler up by name for every value (``_parse_shape`` → ``_handle_<type>``); it serialises
requests the same way. For the report's bulk reads (Cost Explorer's 2 × 30,000 groups, CloudWatch's
16,000 queries and their results) that dispatch, not the JSON, was the client's largest cost
(docs/benchmarks.md, "Report at scale").

:class:`CompiledJSONParser` and :class:`CompiledJSONSerializer` turn each shape once into a small
function that does exactly what botocore's walk does — drop members that are ``null`` or not in the
model, rename members with a wire ``name``, keep ``null`` list items, parse timestamps and blobs with
the parser's own parsers, leave scalars as JSON gave them, and hand tagged unions and event streams
back to botocore — and keep it for later calls. ``tests/aws/test_codec.py`` checks the answers equal
botocore's for every operation aipctl reads in bulk, on real emulator responses.
"""

from __future__ import annotations

import decimal
import json
import os
import threading
from collections.abc import Callable
from threading import Lock
from typing import Any

import orjson
from botocore.parsers import JSONParser, ResponseParserFactory
from botocore.serialize import JSONSerializer

Convert = Callable[[Any], Any]

_lock = Lock()
#: (id of the shape, id of the timestamp parser, id of the blob parser) -> (shape, its converter or None: as is).
_parsers: dict[tuple[int, int, int], tuple[Any, Convert | None]] = {}
_serializers: dict[tuple[int, str], tuple[Any, Convert | None]] = {}


def compiled_codec() -> bool:
    """Whether aipctl's clients use the compiled codec: yes, unless ``AIPCTL_COMPILED_CODEC=0`` (botocore's own
    walk; ``aipctl bench report`` measures against it in the same run)."""
    return os.environ.get("AIPCTL_COMPILED_CODEC", "1") != "0"


# --------------------------------------------------------------------------------------- parsing
def _recursive(shape: Any, memo: dict[str, list[Convert | None]], build: Callable[[], Convert | None]) -> Convert | None:
    """``build()`` for ``shape``, where a shape met again inside itself (a recursive shape) becomes a call
    through a cell that ``build``'s result fills once it is known."""
    found = memo.get(shape.name)
    if found is not None:  # inside itself: the plan is not known yet
        pending = found

        def later(value: Any) -> Any:
            plan = pending[0]
            return value if plan is None else plan(value)

        return later
    cell: list[Convert | None] = [None]
    memo[shape.name] = cell
    plan = build()
    cell[0] = plan
    del memo[shape.name]
    return plan


def _parse_plan(
    shape: Any, timestamp: Convert, blob: Convert, fallback: JSONParser, memo: dict[str, list[Convert | None]] | None = None
) -> Convert | None:
    """What botocore's BaseJSONParser does to a value of ``shape``, as one function (None: nothing)."""
    memo = {} if memo is None else memo
    if shape.type_name in ("structure", "list", "map"):
        return _recursive(shape, memo, lambda: _parse_container(shape, timestamp, blob, fallback, memo))
    kind = shape.type_name
    if kind == "timestamp":
        return timestamp
    if kind == "blob":
        return blob
    return None  # strings, numbers, booleans: botocore's JSON parser returns them as they are


def _parse_container(
    shape: Any, timestamp: Convert, blob: Convert, fallback: JSONParser, memo: dict[str, list[Convert | None]]
) -> Convert | None:
    kind = shape.type_name
    if kind == "list":
        member = _parse_plan(shape.member, timestamp, blob, fallback, memo)
        if member is None:
            return None  # botocore copies such a list item by item, None items included

        def parse_list(node: Any) -> Any:
            return [None if item is None else member(item) for item in node]

        return parse_list
    if kind == "map":
        value_plan = _parse_plan(shape.value, timestamp, blob, fallback, memo)
        if value_plan is None:
            return None

        def parse_map(node: Any) -> Any:
            return {key: None if item is None else value_plan(item) for key, item in node.items()}

        return parse_map
    if shape.is_document_type:
        return None
    if shape.is_tagged_union:

        def parse_union(node: Any) -> Any:
            return fallback._parse_shape(shape, node)

        return parse_union
    members = [
        (member.serialization.get("name", name), name, _parse_plan(member, timestamp, blob, fallback, memo))
        for name, member in shape.members.items()
    ]

    def parse_structure(node: Any) -> Any:
        if node is None:
            return None
        out = {}
        for wire, name, plan in members:
            raw = node.get(wire)
            if raw is not None:
                out[name] = raw if plan is None else plan(raw)
        return out

    return parse_structure


class CompiledJSONParser(JSONParser):  # type: ignore[misc]  # botocore has no type hints
    """botocore's ``json`` protocol parser with each output shape compiled once (see the module)."""

    def _parse_body_as_json(self, body_contents: bytes) -> Any:
        """botocore's, with orjson (a 500-query GetMetricData answer in 3 ms instead of 7); what orjson refuses
        (NaN, integers past 64 bits, invalid UTF-8) goes to botocore's own, which also keeps a non-JSON body as the message."""
        if not body_contents:
            return {}
        try:
            return orjson.loads(body_contents)
        except orjson.JSONDecodeError:
            return super()._parse_body_as_json(body_contents)

    def _handle_json_body(self, raw_body: Any, shape: Any) -> Any:
        parsed = self._parse_body_as_json(raw_body)
        if shape is None:
            return parsed
        key = (id(shape), id(self._timestamp_parser), id(self._blob_parser))
        found = _parsers.get(key)
        if found is None:
            with _lock:
                plan = _parse_plan(shape, self._timestamp_parser, self._blob_parser, self)
                # the shape is kept with its plan, so its id cannot be reused by another shape
                found = _parsers.setdefault(key, (shape, plan))
        plan = found[1]
        if plan is None:
            return parsed
        out = plan(parsed)
        return {} if out is None else out


class CompiledParserFactory(ResponseParserFactory):  # type: ignore[misc]  # botocore has no type hints
    """botocore's parser factory, giving :class:`CompiledJSONParser` for the ``json`` protocol."""

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return CompiledJSONParser(**self._defaults)
        return super().create_parser(protocol_name)


def install_parser(core_session: Any) -> None:
    """Make ``core_session`` (a botocore session) parse JSON-protocol answers with compiled shapes; clients
    created afterwards use it. Keeps the defaults (e.g. the timestamp parser) set on its factory."""
    current = core_session.get_component("response_parser_factory")
    if isinstance(current, CompiledParserFactory):
        return
    factory = CompiledParserFactory()
    factory.set_parser_defaults(**getattr(current, "_defaults", {}))
    core_session.register_component("response_parser_factory", factory)


# ---------------------------------------------------------------------------------- serialising
def _serialize_plan(
    shape: Any, serializer: JSONSerializer, memo: dict[str, list[Convert | None]] | None = None
) -> Convert | None:
    """What botocore's JSONSerializer does to a value of ``shape``, as one function (None: nothing)."""
    memo = {} if memo is None else memo
    if shape.type_name in ("structure", "list", "map"):
        return _recursive(shape, memo, lambda: _serialize_container(shape, serializer, memo))
    kind = shape.type_name
    if kind == "timestamp":
        fmt = shape.serialization.get("timestampFormat")

        def timestamp(value: Any) -> Any:
            return serializer._convert_timestamp_to_str(value, fmt)

        return timestamp
    if kind == "blob":
        return serializer._get_base64  # type: ignore[no-any-return]
    if kind in ("float", "double"):

        def number(value: Any) -> Any:
            return serializer._handle_float(float(value) if isinstance(value, decimal.Decimal) else value)

        return number
    return None


def _serialize_container(shape: Any, serializer: JSONSerializer, memo: dict[str, list[Convert | None]]) -> Convert | None:
    kind = shape.type_name
    if kind == "list":
        member = _serialize_plan(shape.member, serializer, memo)
        if member is None:
            return list
        return lambda value: [member(item) for item in value]
    if kind == "map":
        value_plan = _serialize_plan(shape.value, serializer, memo)
        if value_plan is None:
            return dict
        return lambda value: {key: value_plan(item) for key, item in value.items()}
    if shape.is_document_type:
        return None
    members = {
        name: (member.serialization.get("name", name), _serialize_plan(member, serializer, memo))
        for name, member in shape.members.items()
    }

    def structure(value: Any) -> Any:
        out = {}
        for name, item in value.items():
            wire, plan = members[name]  # an unknown member fails as in botocore (KeyError)
            out[wire] = item if plan is None else plan(item)
        return out

    return structure


class CompiledJSONSerializer(JSONSerializer):  # type: ignore[misc]  # botocore has no type hints
    """botocore's ``json`` protocol serialiser with each input shape compiled once (see the module), and the
    body written by orjson: a 500-query GetMetricData request is 150 KB, which ``json.dumps`` took 4 ms for.

    botocore's ``serialize_to_request`` builds the request around the body; here the body it is given to dump is
    left empty, and the compiled one is written in its place afterwards (per thread: clients are shared)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._bodies = threading.local()

    def serialize_to_request(self, parameters: Any, operation_model: Any) -> Any:
        self._bodies.pending = True
        self._bodies.body = None
        try:
            request = super().serialize_to_request(parameters, operation_model)
        finally:
            self._bodies.pending = False
        body = self._bodies.body
        self._bodies.body = None
        if body is not None:
            if request.get("body") != b"{}":  # botocore changed how it writes the body: it keeps its own way
                return super().serialize_to_request(parameters, operation_model)
            try:
                request["body"] = orjson.dumps(body)
            except TypeError:  # what orjson refuses (integers past 64 bits): botocore's json
                request["body"] = json.dumps(body).encode(self.DEFAULT_ENCODING)
        return request

    def _serialize(self, serialized: Any, value: Any, shape: Any, key: Any = None) -> None:
        if key is not None:  # only the top-level call is compiled; it covers the whole value
            super()._serialize(serialized, value, shape, key)
            return
        cache_key = (id(shape), self._timestamp_precision)  # the plan converts timestamps with this serialiser
        found = _serializers.get(cache_key)
        if found is None:
            with _lock:
                found = _serializers.setdefault(cache_key, (shape, _serialize_plan(shape, self)))
        plan = found[1]
        out = value if plan is None else plan(value)
        if getattr(self._bodies, "pending", False) and self._bodies.body is None:
            self._bodies.body = dict(out)  # written by serialize_to_request
        else:
            serialized.update(out)


def install_serializer(client: Any) -> None:
    """Serialise ``client``'s requests with compiled shapes, when it speaks the ``json`` protocol without
    botocore's parameter validation (validation wraps the serialiser; those clients keep botocore's)."""
    current: Any = getattr(client, "_serializer", None)
    if type(current) is JSONSerializer:
        client._serializer = CompiledJSONSerializer(timestamp_precision=current._timestamp_precision)
