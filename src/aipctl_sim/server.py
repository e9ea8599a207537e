"""The emulator's HTTP front: our services first, moto's server for everything else.

Requests are routed by their SigV4 credential scope (service, Region) and access key (account), as
AWS does. Operations implemented under ``aipctl_sim.<service>`` are served directly; all others go to
moto's ``DomainDispatcherApplication``. Fault injection applies to both. A process-wide lock makes
each request atomic (moto's backends are not thread-safe), and sleeps for injected latency happen
outside it.

A control API under ``/_aipctl/`` (unsigned JSON) reads and moves the clock, sets faults and quotas,
saves and resets state.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import importlib
import importlib.util
import io
import json
import logging
import pkgutil
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from aipctl_sim import (
    _moto_cfn,
    _moto_compat,
    bearer,
    organizations,
    service_credentials,
    settings,
    sts_sessions,
    telemetry,
    trail,
)
from aipctl_sim.identity import identity_for
from aipctl_sim.journal import Journal, body_of, deterministic, new_write, replay_mode, replaying, write_of
from aipctl_sim.journal import install as install_journal
from aipctl_sim.protocol import (
    Handler,
    InternalServerException,
    Request,
    Response,
    Router,
    ServiceError,
    ThrottlingException,
    ValidationException,
    error_response,
    parse_params,
    protocol_of_signing_name,
    serialize,
    service_for_signing_name,
    validate,
)
from aipctl_sim.settings import FaultRule

_log = logging.getLogger("aipctl_sim")
# waitress reports every moment its worker queue is non-empty; for an emulator that is normal load.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)
StartResponse = Callable[..., Any]


@dataclasses.dataclass
class _Service:
    name: str
    signing_name: str
    operations: Mapping[str, Handler]
    claims: Callable[[Request], bool] | None
    #: Operations outside botocore's model: (method, path) -> operation, served with their own parser.
    routes: Mapping[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    parse: Callable[[bytes], dict[str, Any]] | None = None
    #: Further SigV4 service names this service answers (bedrock-runtime: bedrock-mantle, under /mantle).
    also_signed_as: tuple[str, ...] = ()
    #: Operations whose handlers read only state with its own lock (the telemetry store): no emulator lock.
    unlocked: frozenset[str] = frozenset()

    @functools.cached_property
    def router(self) -> Router:
        """Built on first use: botocore's models of ten services take ~0.6 s to load, and a command uses few."""
        return Router(self.name)


def _load_services() -> dict[str, _Service]:
    """Every emulated service: a subpackage of aipctl_sim whose ``urls`` module names its SERVICE,
    SIGNING_NAME and ``operations`` (and optionally ``claims``, when moto serves the rest of it)."""
    import aipctl_sim

    out = {}
    for found in sorted(pkgutil.iter_modules(aipctl_sim.__path__), key=lambda m: m.name):
        if not found.ispkg or importlib.util.find_spec(f"aipctl_sim.{found.name}.urls") is None:
            continue
        module = importlib.import_module(f"aipctl_sim.{found.name}.urls")
        out[module.SERVICE] = _Service(
            module.SERVICE,
            module.SIGNING_NAME,
            module.operations,
            getattr(module, "claims", None),
            getattr(module, "routes", {}),
            getattr(module, "parse_routed", None),
            tuple(getattr(module, "ALSO_SIGNED_AS", ())),
            frozenset(getattr(module, "unlocked", ())),
        )
    return out


class SimApp:
    """The WSGI application of ``aipctl sim``."""

    def __init__(
        self,
        on_change: Callable[[], None] | None = None,
        save: Callable[[], None] | None = None,
        journal: Journal | None = None,
    ) -> None:
        _moto_compat.install()
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self.moto_app = DomainDispatcherApplication(create_backend_app)
        self.services = _load_services()
        #: Which of our services may answer a request signed for a signing name (bedrock: control plane and runtime).
        self.signing_names: dict[str, list[str]] = {}
        for service in self.services.values():
            for name in (service.signing_name, *service.also_signed_as):
                self.signing_names.setdefault(name, []).append(service.name)
        self.lock = threading.RLock()
        self._on_change = on_change or (lambda: None)
        self._save = save
        #: Where every write is recorded before it is answered (None: state is not kept).
        self.journal = journal

    # -- WSGI ----------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_aipctl/"):
            return self._control(environ, start_response)
        try:
            when = _request_time(environ.get("HTTP_X_AIPCTL_SIM_TIME"))
        except ValueError as exc:
            return _send(start_response, error_response(ValidationException(str(exc)), "rest-json", str(uuid.uuid4())))
        with settings.at(when):
            return self._dispatch(environ, start_response)

    def _dispatch(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = _read_body(environ)
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        scope = _credential_scope(authorization)
        api_key: bearer.ApiKey | None = None
        token = None if scope else bearer.bearer_token(authorization)
        if token is not None:
            try:
                api_key = bearer.parse(token, _region_of_request(environ))
            except bearer.InvalidApiKey as exc:
                data = json.dumps({"Message": str(exc)}).encode()
                start_response("403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
                return [data]
            scope = (api_key.access_key_id, "bedrock", api_key.region)
        ours = self._match_ours(environ, body, scope)
        if ours and api_key is not None:
            ours[1].bearer_token_type = api_key.key_type
        service = ours[0].name if ours else (service_for_signing_name(scope[1]) if scope else "unknown")
        operation = ours[1].operation if ours else _moto_operation(environ, body)
        fault = self._fault(service, operation)
        if fault is not None and ours and service == "bedrock-runtime":
            from aipctl_sim.runtime.models import record_failure

            with self.lock:
                record_failure(ours[1], fault)
        if fault is not None:
            protocol = ours[0].router.protocol if ours else protocol_of_signing_name(scope[1] if scope else "")
            answer = _wire(error_response(fault, protocol, str(uuid.uuid4())))
        elif service != "bedrock-runtime" and not is_read_only(operation, environ["REQUEST_METHOD"]):
            answer = self._write(environ, body, scope, ours, service, operation)
        else:
            answer = self._answer(environ, body, scope, ours, service, operation)
        with self.lock:
            telemetry.store().flush()  # the call's record is committed before it is answered
        status, headers, chunks = answer
        start_response(status, headers)
        return chunks

    def _write(
        self,
        environ: dict[str, Any],
        body: bytes,
        scope: tuple[str, str, str] | None,
        ours: tuple[_Service, Request] | None,
        service: str,
        operation: str,
    ) -> _Answer:
        """A request that may change state: served as of one instant and seed, journaled before it is answered."""
        with self.lock:
            if scope and scope[1] in ("s3", "logs"):
                _flush_invocation_logs()  # before the write's seed: replay does not repeat a flush
            write = new_write(settings.now())
            with deterministic(write):
                answer = self._answer(environ, body, scope, ours, service, operation)
            if self.journal is not None:
                self.journal.append_request(write, environ, body)
            self._on_change()
        return answer

    def _answer(
        self,
        environ: dict[str, Any],
        body: bytes,
        scope: tuple[str, str, str] | None,
        ours: tuple[_Service, Request] | None,
        service: str,
        operation: str,
    ) -> _Answer:
        if ours:
            return _wire(self._serve(*ours))
        if scope and scope[1] in ("s3", "logs") and not replaying():
            with self.lock:
                _flush_invocation_logs()  # readers of the log bucket/group see every record so far
        if scope and scope[1] == "cloudformation":
            _moto_cfn.install()  # stack runs with rollback and outputs (loads moto's CloudFormation once)
        if scope and scope[1] == "iam" and operation in service_credentials.OPERATIONS:
            request_id = str(uuid.uuid4())
            with self.lock:
                status_code, xml = service_credentials.handle(_account_for(scope[0]), scope[0], operation, body, request_id)
            status = f"{status_code} {_REASONS.get(status_code, 'Status')}"
            trail.record_moto_call(scope, service, operation, status, environ.get("HTTP_USER_AGENT", ""))
            headers = [("Content-Type", "text/xml"), ("Content-Length", str(len(xml))), ("x-amzn-RequestId", request_id)]
            return status, headers, [xml]
        session: sts_sessions.SessionAttributes | None = None
        if scope and scope[1] == "sts" and operation == "AssumeRole":
            try:
                session = sts_sessions.requested(body)
                caller = identity_for(_account_for(scope[0]), scope[0])
                organizations.check_assume_role(caller.account, caller.arn, body)
            except ServiceError as exc:
                return _wire(error_response(exc, "query", str(uuid.uuid4())))
        environ["wsgi.input"] = _BytesInput(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        with self.lock:
            captured: dict[str, Any] = {}

            def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
                captured["status"], captured["headers"] = status, headers
                return lambda _data: None

            try:
                chunks = b"".join(self.moto_app(environ, capture))
            except NotImplementedError:
                # moto lacks it: say so in the service's protocol, as a status the SDKs do not retry
                protocol = protocol_of_signing_name(scope[1] if scope else "")
                return _wire(error_response(NotEmulated(service, operation), protocol, str(uuid.uuid4())))
            except Exception as exc:  # a failure inside moto must look like AWS's 500, not an HTML page
                _log.exception("moto error in %s.%s", service, operation)
                protocol = protocol_of_signing_name(scope[1] if scope else "")
                error = InternalServerException(f"emulator error in {service} {operation}: {exc}")
                return _wire(error_response(error, protocol, str(uuid.uuid4())))
            if session is not None and scope and captured["status"].startswith("200"):
                chunks = sts_sessions.remember(_account_for(scope[0]), scope[0], session, chunks)
                captured["headers"] = [
                    (k, str(len(chunks)) if k.lower() == "content-length" else v) for k, v in captured["headers"]
                ]
            if scope and scope[1] == "organizations" and operation == "CreateAccount" and captured["status"].startswith("200"):
                organizations.created_account(chunks, body)
            if scope and operation != "*":
                trail.record_moto_call(scope, service, operation, captured["status"], environ.get("HTTP_USER_AGENT", ""))
        return captured["status"], captured["headers"], [chunks]

    # -- replay ----------------------------------------------------------------------------------
    def replay(self, entries: Iterable[dict[str, Any]]) -> tuple[int, int]:
        """Apply journaled writes again, in order; (applied, failed)."""
        applied = failed = 0
        with replay_mode(), self.lock:
            for entry in entries:
                try:
                    self._replay_one(entry)
                    applied += 1
                except Exception:
                    failed += 1
                    _log.exception("journal entry %s (%s) could not be replayed", entry.get("seq"), entry.get("kind"))
        return applied, failed

    def _replay_one(self, entry: dict[str, Any]) -> None:
        kind = entry["kind"]
        if kind == "http":
            environ: dict[str, Any] = dict(entry["environ"])
            body = body_of(entry)
            environ.setdefault("wsgi.errors", io.StringIO())
            scope = _credential_scope(environ.get("HTTP_AUTHORIZATION", ""))
            with deterministic(write_of(entry)):
                ours = self._match_ours(environ, body, scope)
                service = ours[0].name if ours else (service_for_signing_name(scope[1]) if scope else "unknown")
                operation = ours[1].operation if ours else _moto_operation(environ, body)
                self._answer(environ, body, scope, ours, service, operation)
        elif kind == "control":
            with settings.at(write_of(entry).at):
                self._control_action(entry["method"], entry["path"], entry["payload"])
        elif kind in ("s3-put", "logs-put"):
            from aipctl_sim.runtime import logs as invocation_logs

            invocation_logs.replay(entry)
        else:
            raise ValueError(f"unknown journal entry kind {kind!r}")

    def _match_ours(
        self, environ: dict[str, Any], body: bytes, scope: tuple[str, str, str] | None
    ) -> tuple[_Service, Request] | None:
        if scope is None:
            return None
        access_key, signing_name, region = scope
        candidates = self.signing_names.get(signing_name, ())
        if not candidates:
            return None
        raw_path = (environ.get("REQUEST_URI") or environ.get("RAW_URI") or environ.get("PATH_INFO", "")).split("?")[0]
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        headers = _Headers(environ)
        for name in candidates:
            service = self.services[name]
            routed = service.routes.get((environ["REQUEST_METHOD"], raw_path))
            if routed is not None and service.parse is not None:
                request = Request(name, routed, region, _account_for(access_key), access_key, {}, headers, raw_body=body)
                try:
                    request.params = service.parse(body)
                except ServiceError as exc:
                    request.parse_error = exc
                return service, request
            found = service.router.match(environ["REQUEST_METHOD"], raw_path, query, headers)
            if found is None:
                continue
            op, labels = found
            if op.name not in service.operations:
                return None
            parse_error: ServiceError | None = None
            try:
                params = parse_params(op, labels, query, headers, body)
            except ServiceError as exc:
                params, parse_error = {}, exc
            request = Request(
                service=name,
                operation=op.name,
                region=region,
                account_id=_account_for(access_key),
                access_key_id=access_key,
                params=params,
                headers=headers,
                raw_body=body,
                parse_error=parse_error,
            )
            if service.claims is not None and not service.claims(request):
                return None
            return service, request
        return None

    def _serve(self, service: _Service, request: Request) -> Response:
        if request.operation in service.routes.values():
            with self.lock:  # a routed handler parses, answers and renders its own errors
                answer = service.operations[request.operation](request)
                self._on_change()
            assert isinstance(answer, Response)
            answer.headers["x-amzn-RequestId"] = request.request_id
            return answer
        op = service.router.model.operation_model(request.operation)
        protocol = service.router.protocol
        try:
            if request.parse_error is not None:
                raise request.parse_error
            validate(op.input_shape, request.params)
            unlocked = request.operation in service.unlocked
            if unlocked:
                result = service.operations[request.operation](request)
            with self.lock:
                if not unlocked:
                    result = service.operations[request.operation](request)
                if service.name == "bedrock-runtime":
                    self._on_change()  # e.g. the prompt cache
                else:
                    trail.record_management(request, result if isinstance(result, Mapping) else None)
            response = result if isinstance(result, Response) else serialize(op, result, protocol)
        except ServiceError as exc:
            response = error_response(exc, protocol, request.request_id)
        except Exception as exc:  # a bug in the emulator must look like a 500, not kill the server
            _log.exception("emulator error in %s.%s", service.name, request.operation)
            response = error_response(InternalServerException(f"emulator error: {exc}"), protocol, request.request_id)
        response.headers["x-amzn-RequestId"] = request.request_id
        return response

    def _fault(self, service: str, operation: str) -> ServiceError | None:
        rules = [r for r in settings.settings().faults if r.matches(service, operation)]
        if not rules:
            return None
        delay = sum(r.latency_ms for r in rules) / 1000
        if delay:
            time.sleep(delay)
        for rule in rules:
            if rule.rate_per_s > 0 and not rule.take(time.monotonic()):
                return ThrottlingException("Too many requests, please wait before trying again. (shared quota, aipctl sim)")
            if settings.roll(rule.throttle_rate):
                return ThrottlingException("Rate exceeded (injected by aipctl sim)")
            if settings.roll(rule.error_rate):
                return InternalServerException("Internal failure (injected by aipctl sim)")
        return None

    # -- control API -----------------------------------------------------------------------------
    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ["PATH_INFO"][len("/_aipctl/") :].strip("/")
        method = environ["REQUEST_METHOD"]
        try:
            payload = json.loads(_read_body(environ) or b"{}")
            with self.lock:
                write = new_write(settings.now())
                with settings.at(write.at):
                    result = self._control_action(method, path, payload)
                if self.journal is not None and CONTROL_API[(method, path)][1]:
                    self.journal.append("control", write, method=method, path=path, payload=payload)
            status, body = "200 OK", result
        except (ValueError, KeyError, TypeError) as exc:
            status, body = "400 Bad Request", {"error": str(exc)}
        data = json.dumps(body, default=str).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    def _control_action(self, method: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        action = CONTROL_API.get((method, path))
        if action is None:
            raise ValueError(f"unknown control action {method} /_aipctl/{path}")
        handler, changes = action
        result = handler(self, payload)
        if changes:
            self._on_change()
        return result


# -- the control API: (method, path) -> (handler, whether it changes state) ------------------------
ControlHandler = Callable[["SimApp", dict[str, Any]], dict[str, Any]]
SETTINGS: dict[str, Callable[[Any], Any]] = {
    "billing_lag_hours": float,
    "ce_page_groups": int,
    "cloudtrail_lookup_rps": float,
    "log_delivery_delay_s": float,
    "billing_discount_pct": float,
    "batch_job_seconds": float,
    "billing_credits_usd": float,
    "default_region": str,
}


def _clock(app: SimApp, payload: dict[str, Any]) -> dict[str, Any]:
    current = settings.settings()
    return {"now": current.now().isoformat(), "offset_s": current.clock_offset_s}


def _advance(app: SimApp, payload: dict[str, Any]) -> dict[str, Any]:
    settings.settings().advance(float(payload["seconds"]))
    return _clock(app, payload)


def _faults(app: SimApp, payload: dict[str, Any]) -> dict[str, Any]:
    return {"faults": [dataclasses.asdict(f) for f in settings.settings().faults]}


def _set_faults(app: SimApp, payload: dict[str, Any]) -> dict[str, Any]:
    settings.settings().faults = [FaultRule(**rule) for rule in payload.get("faults", [])]
    if "seed" in payload:
        settings.reseed(None if payload["seed"] is None else int(payload["seed"]))
    return _faults(app, payload)


def _set_quotas(app: SimApp, payload: dict[str, Any]) -> dict[str, Any]:
    current = settings.settings()
    current.quotas.update({k: int(v) for k, v in payload.items()})
    return {"quotas": current.quotas}


def _set_settings(app: SimApp, payload: dict[str, Any]) -> dict[str, Any]:
    current = settings.settings()
    for key in payload:
        if key not in SETTINGS:
            raise ValueError(f"unknown setting {key!r} (known: {', '.join(sorted(SETTINGS))})")
    for key, value in payload.items():
        setattr(current, key, SETTINGS[key](value))
    return {key: getattr(current, key) for key in SETTINGS}


def _save(app: SimApp, payload: dict[str, Any]) -> dict[str, Any]:
    if app._save:
        app._save()
    return {"saved": app._save is not None}


def _reset(app: SimApp, payload: dict[str, Any]) -> dict[str, Any]:
    from moto.core.base_backend import BackendDict

    BackendDict.reset()
    settings.replace_settings(settings.SimSettings())
    if not replaying():  # telemetry is durable by itself: what followed the reset is in it
        telemetry.store().clear()
    return {"reset": True}


def _backfill(app: SimApp, payload: dict[str, Any]) -> dict[str, Any]:
    """Prepare history from ``since``: the account's setup (AIPs, activated cost tags) counts as made by then."""
    from aipctl_sim.bedrock.models import bedrock_sim_backends
    from aipctl_sim.ce.models import ce_sim_backends

    since = dt.datetime.fromisoformat(str(payload["since"]).replace("Z", "+00:00"))
    moved = 0
    for aips in bedrock_sim_backends.values():
        for bedrock in aips.values():
            for profile in bedrock.profiles.values():
                if profile.created_at > since:
                    profile.created_at = profile.updated_at = since
                    moved += 1
    from aipctl_sim.bcmdataexports.models import exports_sim_backends

    for regions in exports_sim_backends.values():
        for exports in regions.values():
            for export in exports.exports.values():
                export.created_at = min(export.created_at, since)
    for billing in ce_sim_backends.values():
        for ce in billing.values():
            for tag in ce.tags.values():
                tag.first_seen = min(tag.first_seen, since)
                tag.history = [(min(when, since), status) for when, status in tag.history]
                if tag.last_updated is not None and tag.last_updated > since:
                    tag.last_updated = since
    return {"since": since.isoformat(), "profiles_backdated": moved}


def _health(app: SimApp, payload: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True}


CONTROL_API: dict[tuple[str, str], tuple[ControlHandler, bool]] = {
    ("GET", "clock"): (_clock, False),
    ("POST", "clock/advance"): (_advance, True),
    ("POST", "clock/backfill"): (_backfill, True),
    ("GET", "faults"): (_faults, False),
    ("PUT", "faults"): (_set_faults, True),
    ("PUT", "quotas"): (_set_quotas, True),
    ("PUT", "settings"): (_set_settings, True),
    ("POST", "save"): (_save, False),
    ("POST", "reset"): (_reset, True),
    ("GET", "health"): (_health, False),
    ("POST", "health"): (_health, False),
}


class NotEmulated(ServiceError):
    """An operation neither aipctl sim nor moto implements (501: the SDKs' retry policies leave it alone)."""

    code, status = "NotImplemented", 501

    def __init__(self, service: str, operation: str) -> None:
        super().__init__(f"{service} {operation} is not emulated by aipctl sim (moto {_moto_version()} lacks it too)")


def _moto_version() -> str:
    from importlib.metadata import version

    return version("moto")


def _request_time(raw: str | None) -> dt.datetime | None:
    """The X-Aipctl-Sim-Time of a request (ISO 8601 or epoch seconds): a time in the past, never the future."""
    if not raw:
        return None
    try:
        when = dt.datetime.fromtimestamp(float(raw), dt.timezone.utc) if raw.replace(".", "", 1).isdigit() else None
        when = when or dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"X-Aipctl-Sim-Time {raw!r} is neither ISO 8601 nor epoch seconds") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    if when > settings.settings().live_now() + dt.timedelta(seconds=5):
        raise ValueError(f"X-Aipctl-Sim-Time {raw} is in the future; move the clock with `aipctl sim clock advance`")
    return when


def is_read_only(operation: str, method: str = "POST") -> bool:
    """Requests that cannot change emulator state (unknown operations count as writes).

    REST services served by moto (S3, the bedrock control plane's logging configuration) carry no
    operation name: their GET and HEAD requests are the reads.
    """
    if operation == "*":
        return method in ("GET", "HEAD")
    return operation.startswith(trail.READ_PREFIXES)


def _flush_invocation_logs() -> None:
    """Before S3 or Logs is read or written: pending invocation-log records and trails' data events out, and
    CUR exports refreshed."""
    from aipctl_sim.bcmdataexports.models import deliver_due
    from aipctl_sim.cloudtrail import delivery as trail_delivery
    from aipctl_sim.runtime import logs as invocation_logs

    invocation_logs.flush()
    trail_delivery.deliver()
    deliver_due()


_Answer = tuple[str, list[tuple[str, str]], list[bytes]]


def _wire(response: Response) -> _Answer:
    headers = dict(response.headers)
    headers["Content-Length"] = str(len(response.body))
    return f"{response.status} {_REASONS.get(response.status, 'Status')}", list(headers.items()), [response.body]


class _Headers(Mapping[str, str]):
    """Case-insensitive view of the WSGI environ's HTTP headers."""

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self._env = environ

    def _env_key(self, key: str) -> str:
        upper = key.upper().replace("-", "_")
        return upper if upper in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + upper

    def __getitem__(self, key: str) -> str:
        return str(self._env[self._env_key(key)])

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._env_key(key) in self._env

    def __iter__(self) -> Iterator[str]:
        return (k[5:].replace("_", "-").title() for k in self._env if k.startswith("HTTP_"))

    def __len__(self) -> int:
        return sum(1 for k in self._env if k.startswith("HTTP_"))


class _BytesInput:
    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._buf.read(size)

    def readline(self, size: int = -1) -> bytes:
        return self._buf.readline(size)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._buf)


def _read_body(environ: dict[str, Any]) -> bytes:
    length = environ.get("CONTENT_LENGTH") or "0"
    try:
        size = int(length)
    except ValueError:
        size = 0
    if size <= 0:
        if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            return bytes(environ["wsgi.input"].read())
        return b""
    return bytes(environ["wsgi.input"].read(size))


def _credential_scope(authorization: str) -> tuple[str, str, str] | None:
    """(access key, signing name, Region) from a SigV4 Authorization header."""
    marker = "Credential="
    start = authorization.find(marker)
    if start < 0:
        return None
    credential = authorization[start + len(marker) :].split(",", 1)[0].strip()
    parts = credential.split("/")
    if len(parts) != 5:
        return None
    return parts[0], parts[3], parts[2]


def _account_for(access_key: str) -> str:
    from moto.iam.models import get_account_id_from

    if access_key.startswith("ABSKID"):  # a long-term Bedrock API key's principal
        for account in service_credentials.service_credentials_backends:
            if service_credentials.by_key_id(account, access_key) is not None:
                return str(account)
    return get_account_id_from(access_key)


_AWS_HOST = re.compile(r"^bedrock(?:-runtime|-mantle)?[.-](?:fips\.)?([a-z]{2}(?:-gov)?-[a-z]+-\d)\.")


def _region_of_request(environ: dict[str, Any]) -> str | None:
    """The Region a request addresses without SigV4: its AWS-style host name, else ``X-Aipctl-Sim-Region``."""
    found = _AWS_HOST.match(str(environ.get("HTTP_HOST", "")))
    return found.group(1) if found else (environ.get("HTTP_X_AIPCTL_SIM_REGION") or None)


def _moto_operation(environ: dict[str, Any], body: bytes) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rsplit(".", 1)[-1]
    for source in (environ.get("QUERY_STRING", ""), body[:2000].decode("latin-1") if body else ""):
        action = parse_qs(source).get("Action")
        if action:
            return str(action[0])
    return "*"


_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
}


def _send(start_response: StartResponse, response: Response) -> Iterable[bytes]:
    status, headers, chunks = _wire(response)
    start_response(status, headers)
    return chunks


#: How the emulator keeps its state in a directory (see EmulatorServer).
DURABILITY = ("journal", "snapshot")

#: Keep-alive connections the server holds at once (a traffic run keeps one per simulated caller).
CONNECTION_LIMIT = 4096


def _raise_open_files_limit(wanted: int) -> None:
    """Allow this process enough sockets (both ends, when the emulator is embedded) up to the hard limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class EmulatorServer:
    """Serve :class:`SimApp` on loopback in a background thread.

    With a state directory, ``durability="journal"`` (the default) journals every write before it
    is answered and snapshots the whole state when the journal has grown (``SNAPSHOT_ENTRIES``,
    ``SNAPSHOT_BYTES``) or ``snapshot_s`` after the first unsaved change; ``"snapshot"`` only
    snapshots, every ``snapshot_s`` (2 s by default there): faster, but a kill loses the writes
    since the last snapshot.

    >>> server = EmulatorServer(state_dir=".aipctl/sim").start()   # doctest: +SKIP
    >>> server.endpoint_url                                          # doctest: +SKIP
    'http://127.0.0.1:49321'
    """

    SNAPSHOT_ENTRIES = 20_000
    SNAPSHOT_BYTES = 64 << 20

    def __init__(
        self,
        state_dir: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        snapshot_s: float | None = None,
        durability: str = "journal",
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the emulator only binds to loopback")
        if durability not in DURABILITY:
            raise ValueError(f"durability is one of {', '.join(DURABILITY)}, not {durability!r}")
        self.host, self.port = host, port
        self.durability = durability
        self.snapshot_s = snapshot_s if snapshot_s is not None else (30.0 if durability == "journal" else 2.0)
        self._state_dir_path = state_dir
        self._state: Any = None
        self._journal: Journal | None = None
        self._dirty = threading.Event()
        self._stopped = threading.Event()
        self._server: Any = None
        self._threads: list[threading.Thread] = []
        self.warnings: list[str] = []
        #: (entries applied, entries failed) from the journal at start.
        self.replayed = (0, 0)
        self._scratch: Any = None

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://{self.host}:{self._server.effective_port}"

    def start(self) -> EmulatorServer:
        from moto.core.base_backend import BackendDict

        BackendDict.reset()
        settings.replace_settings(settings.SimSettings())
        if self._state_dir_path is not None:
            from aipctl_sim.state import StateDir

            self._state = StateDir(self._state_dir_path)
            self._state.load()
            self.warnings.extend(self._state.warnings)
            telemetry.open_store(self._state.path / "telemetry.sqlite")
        else:
            import tempfile

            self._scratch = tempfile.TemporaryDirectory(prefix="aipctl-sim-")
            telemetry.open_store(Path(self._scratch.name) / "telemetry.sqlite")
        app = SimApp(on_change=self._dirty.set, save=self.save)
        self._app = app
        if self._state is not None:
            self._recover(app)
        # waitress: keep-alive and a worker pool (werkzeug's dev server closes every connection).
        from waitress.server import create_server

        _raise_open_files_limit(2 * CONNECTION_LIMIT + 256)
        self._server = create_server(
            app,
            host=self.host,
            port=self.port,
            threads=8,
            ident="aipctl-sim",
            channel_timeout=300,
            # waitress's default of 100 connections wedged the emulator under 100+ keep-alive clients
            connection_limit=CONNECTION_LIMIT,
            backlog=1024,
            asyncore_use_poll=True,  # select() stops at descriptor 1024
        )
        serve = threading.Thread(target=self._serve, name="aipctl-sim", daemon=True)
        serve.start()
        self._threads.append(serve)
        if self._state is not None and self.snapshot_s > 0:
            saver = threading.Thread(target=self._autosave, name="aipctl-sim-save", daemon=True)
            saver.start()
            self._threads.append(saver)
        return self

    def _recover(self, app: SimApp) -> None:
        """Replay what the journal holds after the snapshot, then journal from here on."""
        journal = Journal(self._state.path)
        try:
            entries = journal.read(after=self._state.journal_seq)
        except ValueError as exc:
            journal.close()
            aside = self._state.set_aside(journal.path)
            self.warnings.append(f"{exc}; the journal was not replayed and is kept in {aside}")
            journal = Journal(self._state.path)
            entries = []
        if entries:
            self.replayed = app.replay(entries)
            if self.replayed[1]:
                self.warnings.append(f"{self.replayed[1]} of {len(entries)} journaled writes could not be replayed (see the log)")
        if self.durability == "journal":
            self._journal = app.journal = journal
            install_journal(journal)
        if entries:
            self._dirty.set()
            self.save()  # the replayed state becomes the snapshot: the next start replays nothing
        if self.durability != "journal":
            journal.truncate()
            journal.close()

    def _serve(self) -> None:
        try:
            self._server.run()
        except (OSError, ValueError):
            # stop() closes the sockets while the loop may sit in select(): EBADF then is the exit.
            if not self._stopped.is_set():
                raise

    def save(self) -> None:
        if self._state is None:
            return
        with self._app.lock:
            self._dirty.clear()
            _flush_invocation_logs()  # journaled first, so the snapshot's sequence number covers it
            self._state.save(journal_seq=self._journal.seq if self._journal is not None else 0)
            if self._journal is not None:
                self._journal.truncate()

    def _autosave(self) -> None:
        tick = min(self.snapshot_s, 0.5)
        dirty_since: float | None = None
        while not self._stopped.wait(tick):
            if not self._dirty.is_set():
                dirty_since = None
                continue
            dirty_since = dirty_since or time.monotonic()
            grown = self._journal is not None and (
                self._journal.entries >= self.SNAPSHOT_ENTRIES or self._journal.bytes >= self.SNAPSHOT_BYTES
            )
            if grown or time.monotonic() - dirty_since >= self.snapshot_s:
                try:
                    self.save()
                    dirty_since = None
                except Exception:  # keep serving; the final save at stop reports errors
                    _log.exception("autosave failed")

    def stop(self) -> None:
        self._stopped.set()
        if self._server is not None:
            # Let in-flight requests finish before the sockets (and waitress's trigger pipe) close.
            self._server.task_dispatcher.shutdown(cancel_pending=False, timeout=5)
            self._server.close()
        try:
            if self._state is not None and self._dirty.is_set():
                self.save()
        finally:
            telemetry.close_store()
            install_journal(None)
            if self._journal is not None:
                self._journal.close()
                self._journal = None
            if self._scratch is not None:
                self._scratch.cleanup()
                self._scratch = None
            if self._state is not None:
                self._state.close()
                self._state = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["EmulatorServer", "SimApp", "ValidationException"]
