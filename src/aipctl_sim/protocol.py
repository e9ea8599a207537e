"""Wire protocols of the services the emulator serves itself, driven by botocore's service models.

botocore ships the exact request/response shapes of every AWS API; we use them in reverse: the
operation is found from the HTTP method and path (rest-json) or the ``X-Amz-Target`` header (json),
parameters are read from the URI, query string, headers and body as the model places them, and a
handler's result dict is serialised as the model says. Handlers therefore only deal in the API's own
field names, exactly as the AWS documentation shows them.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast
from urllib.parse import parse_qs, unquote

import botocore.session
import orjson
from botocore.model import OperationModel, ServiceModel, Shape


class ServiceError(Exception):
    """An AWS error response: ``code`` becomes the error type the SDK raises."""

    status = 400
    code = "ValidationException"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status


class ValidationException(ServiceError):
    code, status = "ValidationException", 400


class ResourceNotFoundException(ServiceError):
    code, status = "ResourceNotFoundException", 404


class InvalidParameterException(ServiceError):
    """The Price List's and the tagging API's name for a bad request."""

    code, status = "InvalidParameterException", 400


class ConflictException(ServiceError):
    code, status = "ConflictException", 400


class ThrottlingException(ServiceError):
    code, status = "ThrottlingException", 429


class AccessDeniedException(ServiceError):
    code, status = "AccessDeniedException", 403


class InternalServerException(ServiceError):
    code, status = "InternalServerException", 500


@cache
def service_model(name: str) -> ServiceModel:
    """botocore's model for ``name`` (e.g. ``bedrock``, ``ce``), loaded once."""
    loader = botocore.session.get_session().get_component("data_loader")
    return ServiceModel(loader.load_service_model(name, "service-2"), service_name=name)


@dataclass
class Request:
    """What a handler sees of the HTTP request, after routing."""

    service: str
    operation: str
    region: str
    account_id: str
    access_key_id: str
    params: dict[str, Any]
    headers: Mapping[str, str]
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    raw_body: bytes = b""
    parse_error: ServiceError | None = None
    #: Set when the caller sent a Bedrock API key (``bedrock:bearerTokenType``: SHORT_TERM or LONG_TERM).
    bearer_token_type: str | None = None


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    operation: OperationModel
    static_query: tuple[tuple[str, str], ...]


class Router:
    """Finds the operation of a request for one service, from botocore's ``http`` traits."""

    def __init__(self, service: str) -> None:
        self.model = service_model(service)
        self.protocol = str(self.model.resolved_protocol)  # what botocore clients speak to this service
        self._routes: list[_Route] = []
        self._targets: dict[str, OperationModel] = {}
        prefix = self.model.metadata.get("targetPrefix", "")
        for name in self.model.operation_names:
            op = self.model.operation_model(name)
            if self.protocol.startswith("rest"):
                self._routes.append(_compile_route(op))
            else:
                self._targets[f"{prefix}.{name}"] = op
        # Literal segments outrank labels: /inference-profiles/x must not match a catch-all first.
        self._routes.sort(key=lambda r: (-len(r.static_query), -r.pattern.pattern.count("/"), r.pattern.pattern.count("(")))

    def match(
        self, method: str, raw_path: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
    ) -> tuple[OperationModel, dict[str, str]] | None:
        if self._targets:
            op = self._targets.get(headers.get("X-Amz-Target", ""))
            return (op, {}) if op else None
        for route in self._routes:
            if route.method != method:
                continue
            found = route.pattern.match(raw_path)
            if found and all(query.get(k, [None])[0] == v or (v == "" and k in query) for k, v in route.static_query):
                return route.operation, {k: unquote(v) for k, v in found.groupdict().items()}
        return None


def _compile_route(op: OperationModel) -> _Route:
    uri = op.http["requestUri"]
    path, _, static = uri.partition("?")
    regex = ""
    for piece in re.split(r"(\{[^}]+\})", path):
        if piece.startswith("{"):
            name = piece[1:-1]
            greedy = name.endswith("+")
            name = name.rstrip("+")
            regex += f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)"
        else:
            regex += re.escape(piece)
    static_query = tuple((k, v[0] if v else "") for k, v in parse_qs(static, keep_blank_values=True).items())
    return _Route(op.http["method"], re.compile(f"^{regex.rstrip('/')}/?$"), op, static_query)


def parse_params(
    op: OperationModel, labels: Mapping[str, str], query: Mapping[str, list[str]], headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    """Read the operation's input members from wherever its model places them."""
    shape = op.input_shape
    if shape is None:
        return {}
    params: dict[str, Any] = {}
    payload = shape.serialization.get("payload")
    json_body: dict[str, Any] = {}
    if body and not payload:
        try:
            json_body = orjson.loads(body)
        except orjson.JSONDecodeError:
            try:  # what orjson refuses and Python's json takes (NaN, integers past 64 bits)
                json_body = json.loads(body)
            except ValueError:
                raise ValidationException("Request body is not valid JSON") from None
        except ValueError:
            raise ValidationException("Request body is not valid JSON") from None
        if not isinstance(json_body, dict):
            raise ValidationException("Request body must be a JSON object")
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            if wire in labels:
                params[name] = labels[wire]
        elif location == "querystring":
            if wire in query:
                values = query[wire]
                params[name] = (
                    [_from_text(member.member, v) for v in values]
                    if member.type_name == "list"
                    else _from_text(member, values[0])
                )
        elif location == "header":
            if wire in headers:
                params[name] = _from_text(member, headers[wire])
        elif location is None:
            if name == payload:
                params[name] = body if member.type_name in ("blob", "string") else (json.loads(body) if body else None)
            elif name in json_body:
                params[name] = json_body[name]
    return params


def _from_text(shape: Shape, value: str) -> Any:
    if shape.type_name in ("integer", "long"):
        try:
            return int(value)
        except ValueError:
            raise ValidationException(f"'{value}' is not a valid integer") from None
    if shape.type_name == "boolean":
        return value.lower() == "true"
    return value


def serialize(op: OperationModel, result: Mapping[str, Any] | None, protocol: str) -> Response:
    """Turn a handler's result into the HTTP response the SDK expects for ``op``."""
    headers = {"Content-Type": "application/json" if protocol.startswith("rest") else "application/x-amz-json-1.1"}
    status = int(op.http.get("responseCode", 200))
    shape = op.output_shape
    if shape is None or result is None:
        return Response(status, headers, b"{}" if protocol != "rest-json" or shape is not None else b"")
    body_members: dict[str, Any] = {}
    payload_name = shape.serialization.get("payload")
    raw: bytes | None = None
    for name, member in shape.members.items():
        if name not in result or result[name] is None:
            continue
        location = member.serialization.get("location")
        value = result[name]
        if location == "header":
            headers[member.serialization.get("name", name)] = _to_text(value)
        elif location == "statusCode":
            status = int(value)
        elif name == payload_name:
            if member.type_name in ("blob", "string"):
                raw = value if isinstance(value, bytes) else str(value).encode()
            else:
                raw = json.dumps(_to_json(member, value)).encode()
        else:
            body_members[name] = _to_json(member, value)
    for name, value in result.items():  # extension headers that botocore does not model
        if name.startswith("x-amzn-") and name not in shape.members:
            headers[name] = _to_text(value)
    if raw is None:
        raw = json_bytes(body_members)
    return Response(status, headers, raw)


def json_bytes(value: Any) -> bytes:
    """Compact JSON: orjson (a 500-query GetMetricData answer in 1 ms instead of 8), Python's json for what orjson
    refuses (integers past 64 bits)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


def _to_text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
    return str(value)


#: Timestamps already in their JSON form (epoch seconds).
_EPOCH_TYPES = frozenset({int, float})
#: Shapes whose JSON form is the Python value itself.
_SCALARS = frozenset({"string", "integer", "long", "double", "float", "boolean"})


def _to_json(shape: Shape, value: Any) -> Any:
    """The JSON form of ``value`` as ``shape`` (botocore's model) sends it, through a converter made once per
    shape (a 30-day report's answers hold ~200,000 values; looking up each one's handler was a seventh of
    the emulator's time)."""
    return _converter(shape)(value)


_Convert = Callable[[Any], Any]
_converters: dict[int, tuple[Shape, _Convert]] = {}
_building = threading.RLock()


def _as_is(value: Any) -> Any:
    return value


def _compiled(cache: dict[int, tuple[Shape, Any]], shape: Shape, build: Callable[[Shape, Callable[[Shape], Any]], Any]) -> Any:
    """``build(shape, inner)`` once per top-level shape (kept with it, so its id is not reused). botocore makes a
    new object for a member shape each time it is resolved, so recursion is told by name: a shape met again inside
    itself (CE's ``Expression``) becomes a call through a cell filled once it is built."""
    found = cache.get(id(shape))
    if found is not None:
        return found[1]
    with _building:  # other threads wait rather than meet a half-built one
        found = cache.get(id(shape))
        if found is None:
            active: dict[str, list[Any]] = {}

            def inner(sub: Shape) -> Any:
                pending = active.get(sub.name)
                if pending is not None:
                    cell = pending

                    def later(value: Any) -> Any:
                        return cell[0](value)

                    return later
                active[sub.name] = [None]
                made = build(sub, inner)
                active.pop(sub.name)[0] = made
                return made

            found = cache[id(shape)] = (shape, inner(shape))
        return found[1]


def _converter(shape: Shape) -> _Convert:
    return cast(_Convert, _compiled(_converters, shape, _build))


def _build(shape: Shape, inner: Callable[[Shape], _Convert]) -> _Convert:
    kind = shape.type_name
    if getattr(shape, "is_document_type", False):
        return _as_is  # free-form JSON (e.g. a tool's input)
    if kind == "structure":
        members = {name: inner(member) for name, member in shape.members.items()}
        plain = frozenset(name for name, convert in members.items() if convert is _as_is)

        def structure(value: Any) -> Any:
            # members sent as they are (strings, numbers) are not called through _as_is: 21,000 GetMetricData
            # results of a report are five members each
            return {k: v if k in plain else members[k](v) for k, v in value.items() if v is not None and k in members}

        return structure
    if kind == "list":
        if shape.member.type_name in _SCALARS:
            return list  # e.g. 100 k metric values: no per-element walk
        member = inner(shape.member)
        if shape.member.type_name == "timestamp":
            # handlers mostly give epoch seconds already (GetMetricData's Timestamps): a C-level look at the
            # element types instead of a call per element
            return lambda value: list(value) if set(map(type, value)) <= _EPOCH_TYPES else [member(v) for v in value]
        return lambda value: [member(v) for v in value]
    if kind == "map":
        item = inner(shape.value)
        return lambda value: {k: item(v) for k, v in value.items()}
    if kind == "timestamp":
        iso = shape.serialization.get("timestampFormat") == "iso8601"

        def timestamp(value: Any) -> Any:
            if isinstance(value, dt.datetime):
                # JSON protocols send epoch seconds unless the shape says otherwise (and SDKs parse them cheaply).
                return _iso(value) if iso else value.timestamp()
            return value

        return timestamp
    if kind == "blob":
        return lambda value: base64.b64encode(value).decode() if isinstance(value, bytes) else value
    return _as_is


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


#: SigV4 signing names whose botocore service name differs.
_SIGNING_TO_SERVICE = {
    "monitoring": "cloudwatch",
    "email": "ses",
    "states": "stepfunctions",
    "execute-api": "apigateway",
    "tagging": "resourcegroupstaggingapi",
}


def service_for_signing_name(signing_name: str) -> str:
    """botocore's service name for a SigV4 signing name (``monitoring`` -> ``cloudwatch``)."""
    return _SIGNING_TO_SERVICE.get(signing_name, signing_name)


def protocol_of_signing_name(signing_name: str) -> str:
    """The wire protocol of the service a request was signed for (json when unknown)."""
    try:
        return str(service_model(_SIGNING_TO_SERVICE.get(signing_name, signing_name)).resolved_protocol)
    except Exception:  # unknown or unloadable model
        return "json"


def error_response(error: ServiceError, protocol: str, request_id: str) -> Response:
    headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error.code}
    if protocol in ("query", "ec2", "rest-xml"):
        code = "Throttling" if error.code == "ThrottlingException" and protocol == "query" else error.code
        fault = "Sender" if error.status < 500 else "Receiver"
        inner = f"<Error><Type>{fault}</Type><Code>{code}</Code><Message>{error.message}</Message></Error>"
        body_xml = (
            inner if protocol == "rest-xml" else f"<ErrorResponse>{inner}<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        headers["Content-Type"] = "text/xml"
        return Response(error.status, headers, body_xml.encode())
    if protocol.startswith("rest"):
        headers["Content-Type"] = "application/json"
        body = {"message": error.message}
    else:
        headers["Content-Type"] = "application/x-amz-json-1.1"
        body = {"__type": error.code, "message": error.message}
    return Response(error.status, headers, json.dumps(body).encode())


Handler = Callable[[Request], Mapping[str, Any] | None]


def validate(shape: Shape | None, params: Mapping[str, Any]) -> None:
    """Enforce the model's required/min/max/pattern/enum constraints like AWS's front door does.

    The message follows AWS: ``1 validation error detected: Value 'x' at 'field' failed to satisfy
    constraint: Member must satisfy regular expression pattern: ...``.
    """
    if shape is None or _valid(shape)(params):
        return
    errors: list[str] = []  # not valid: the walk below says why, as AWS does
    _validate_structure(shape, params, "", errors)
    if errors:
        count = len(errors)
        raise ValidationException(f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(errors))


_Check = Callable[[Any], bool]
_checks: dict[int, tuple[Shape, _Check]] = {}


def _valid(shape: Shape) -> _Check:
    """Whether a request passes :func:`validate`, as one function per input shape (the same rules as the walk
    below, without building a path per value: a 500-query GetMetricData request has ~5,000 values)."""
    return cast(_Check, _compiled(_checks, shape, _build_check))


def _build_check(shape: Shape, inner: Callable[[Shape], _Check]) -> _Check:
    meta, kind = shape.metadata, shape.type_name
    low, high = meta.get("min"), meta.get("max")
    if kind == "string":
        pattern = meta.get("pattern")  # compiled when first needed, as the walk does (some models' are Java-only)
        enum = frozenset(shape.enum) if shape.enum else None

        def string(value: Any) -> bool:
            return (
                isinstance(value, str)
                and (low is None or len(value) >= low)
                and (high is None or len(value) <= high)
                and (pattern is None or _pattern(pattern).fullmatch(value) is not None)
                and (enum is None or value in enum)
            )

        return string
    if kind in ("integer", "long", "float", "double"):

        def number(value: Any) -> bool:
            return (
                not isinstance(value, bool)
                and isinstance(value, int | float)
                and (low is None or value >= low)
                and (high is None or value <= high)
            )

        return number
    if kind == "list":
        item = inner(shape.member)

        def sequence(value: Any) -> bool:
            return (low is None or len(value) >= low) and (high is None or len(value) <= high) and all(map(item, value))

        return sequence
    if kind == "structure":
        required = tuple(shape.required_members)
        members = tuple((name, inner(member)) for name, member in shape.members.items())

        def structure(value: Any) -> bool:
            if not isinstance(value, Mapping):
                return True  # the walk checks nested structures only when they are mappings
            if any(value.get(name) is None for name in required):
                return False
            return all(check(value[name]) for name, check in members if value.get(name) is not None)

        return structure
    return lambda value: True  # maps, booleans, timestamps, blobs: the walk does not check them either


def _validate_structure(shape: Shape, value: Mapping[str, Any], path: str, errors: list[str]) -> None:
    for name in shape.required_members:
        if value.get(name) is None:
            errors.append(f"Value null at '{path}{name}' failed to satisfy constraint: Member must not be null")
    for name, member in shape.members.items():
        if name in value and value[name] is not None:
            _validate_value(member, value[name], f"{path}{name}", errors)


def _violation(value: Any, path: str, constraint: str) -> str:
    shown = "" if value is None else f"'{value}' "
    return f"Value {shown}at '{path}' failed to satisfy constraint: Member must {constraint}"


def _validate_value(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    meta = shape.metadata
    kind = shape.type_name
    shown = "***" if meta.get("sensitive") else value
    if kind == "string":
        if not isinstance(value, str):
            errors.append(_violation(None, path, "be a string"))
        elif "min" in meta and len(value) < meta["min"]:
            errors.append(_violation(shown, path, f"have length greater than or equal to {meta['min']}"))
        elif "max" in meta and len(value) > meta["max"]:
            errors.append(_violation(shown, path, f"have length less than or equal to {meta['max']}"))
        elif "pattern" in meta and not _pattern(meta["pattern"]).fullmatch(value):
            errors.append(_violation(shown, path, f"satisfy regular expression pattern: {meta['pattern']}"))
        elif shape.enum and value not in shape.enum:
            errors.append(_violation(value, path, f"satisfy enum value set: [{', '.join(shape.enum)}]"))
    elif kind in ("integer", "long", "float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(_violation(None, path, "be a number"))
        elif "min" in meta and value < meta["min"]:
            errors.append(_violation(value, path, f"have value greater than or equal to {meta['min']}"))
        elif "max" in meta and value > meta["max"]:
            errors.append(_violation(value, path, f"have value less than or equal to {meta['max']}"))
    elif kind == "list":
        if "min" in meta and len(value) < meta["min"]:
            errors.append(_violation(None, path, f"have length greater than or equal to {meta['min']}"))
        if "max" in meta and len(value) > meta["max"]:
            errors.append(_violation(None, path, f"have length less than or equal to {meta['max']}"))
        for index, item in enumerate(value):
            _validate_value(shape.member, item, f"{path}.{index + 1}.member", errors)
    elif kind == "structure" and isinstance(value, Mapping):
        _validate_structure(shape, value, f"{path}.", errors)


@cache
def _pattern(source: str) -> re.Pattern[str]:
    try:
        return re.compile(source)
    except re.error:
        pass
    # AWS models are Java regexes: inline flags such as (?i) may sit mid-expression, which Python rejects
    # (applying them to the whole expression is close enough for validation), and a class may put a hyphen
    # after a shorthand (``[\w-_]``: Java reads the hyphen literally, Python refuses the range).
    flags = "".join(re.findall(r"\(\?([imsx]+)\)", source))
    java = re.sub(r"(\\[wdsWDS])-", r"\1\\-", re.sub(r"\(\?[imsx]+\)", "", source))
    try:
        return re.compile(f"(?{flags})" + java if flags else java)
    except re.error:
        return re.compile(".*", re.DOTALL)  # a form Python cannot read at all: not checked, rather than a failed request
