"""Where aipctl acts: the embedded emulator (default) or a real AWS account.

The product code is identical for both: it receives a :class:`Target` and asks it for boto3
clients. For ``sim`` the target starts the emulator on loopback (state in ``<state-dir>/sim``) or
uses a running ``aipctl sim serve`` given by ``endpoint_url``. This module and the ``sim serve``
command are the only product modules that import the emulator, and only to start it
(``tests/test_architecture.py`` checks it).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING, Any, Literal

from aipctl._exceptions import TargetError, UsageError

if TYPE_CHECKING:
    from aipctl_sim import EmulatorServer

TargetKind = Literal["sim", "aws"]
DEFAULT_STATE_DIR = ".aipctl"
DEFAULT_SIM_REGION = "eu-central-1"
#: Credentials the emulator accepts; they map to its default account 123456789012.
SIM_ACCESS_KEY = "AKIAAIPCTLSIMULATOR1"
SIM_SECRET_KEY = "aipctl-sim-secret-key-not-a-real-secret"
#: Cost Explorer and Billing answer only in us-east-1.
BILLING_REGION = "us-east-1"


@dataclass(frozen=True)
class Identity:
    account: str
    arn: str


@dataclass
class Target:
    """A session bound to one account and Region, with retrying, pooled clients."""

    kind: TargetKind
    session: Any  # boto3.Session
    region: str
    endpoint_url: str | None = None
    state_dir: Path | None = None
    embedded: bool = False
    max_pool_connections: int = 32
    #: Things the user should know about the target (e.g. emulator state that could not be loaded).
    warnings: list[str] = field(default_factory=list)
    _clients: dict[tuple[str, str, bool, str | None], Any] = field(default_factory=dict, repr=False)
    _identity: Identity | None = field(default=None, repr=False)
    _lock: Lock = field(default_factory=Lock, repr=False)

    def client(self, service: str, region: str | None = None, *, validated: bool = True, worker: str | None = None) -> Any:
        """A cached boto3 client with adaptive retries (throttling-safe) for ``service``.

        ``worker``: a client of that worker's own. botocore keeps one retry quota per client (500
        units, 14 per retried 5xx): eight threads sharing a client drain it together under sustained
        server errors and then get no retries at all (600 creates at 30 % 5xx lost 91). With a client
        each, a worker's retries are its own.

        ``validated=False``: botocore does not check the parameters before sending (the service still
        does). For requests aipctl builds in bulk itself, where the check costs more than the call: a
        30-day report sends 16,000 GetMetricData queries, ~0.8 s of validation."""
        key = (service, region or self.region, validated, worker)
        with self._lock:
            if key not in self._clients:
                from botocore.config import Config

                from aipctl.aws.codec import compiled_codec, install_serializer

                config = Config(
                    retries={"mode": retry_mode(), "total_max_attempts": max_attempts()},
                    max_pool_connections=self.max_pool_connections,
                    connect_timeout=5,
                    read_timeout=60,
                    user_agent_extra="aipctl/0.1.0",
                    parameter_validation=validated,
                )
                kwargs: dict[str, Any] = {"region_name": key[1], "config": config}
                _fast_timestamps(self.session)
                if self.endpoint_url:
                    kwargs["endpoint_url"] = self.endpoint_url
                client = self.session.client(service, **kwargs)
                if compiled_codec():
                    install_serializer(client)
                trace = os.environ.get("AIPCTL_TRACE_CALLS")
                if trace:
                    _trace_calls(client, service, trace)
                self._clients[key] = client
            return self._clients[key]

    def identity(self) -> Identity:
        if self._identity is None:
            from aipctl.aws.errors import aws_call

            with aws_call("sts", "GetCallerIdentity"):
                answer = self.client("sts").get_caller_identity()
            self._identity = Identity(account=answer["Account"], arn=answer["Arn"])
        return self._identity

    @property
    def account(self) -> str:
        return self.identity().account

    @property
    def shown_endpoint(self) -> str:
        if self.endpoint_url:
            return self.endpoint_url
        return str(self.client("bedrock").meta.endpoint_url)

    def now(self) -> dt.datetime:
        """The target's current time: the simulated clock on the emulator, the wall clock on AWS."""
        if self.kind == "sim" and self.endpoint_url:
            from aipctl.aws.simctl import SimControl

            return dt.datetime.fromisoformat(SimControl(self.endpoint_url).clock()["now"])
        return dt.datetime.now(dt.timezone.utc)

    def describe(self) -> dict[str, str]:
        """What a command acts on; every command shows this before it acts."""
        kind = "sim (embedded emulator)" if self.embedded else ("sim" if self.kind == "sim" else "aws")
        out = {"target": kind, "account": self.account, "region": self.region, "endpoint": self.shown_endpoint}
        if self.kind == "sim" and self.state_dir is not None:
            out["state"] = str(self.state_dir)
        return out


def retry_mode() -> str:
    """botocore retry mode: ``standard`` unless AIPCTL_RETRY_MODE says otherwise.

    Measured against the emulator at 20 % injected throttling, 30 sequential calls took 3.5 s in
    standard mode and 16.3 s in adaptive mode (same number of retries): adaptive's client-side
    rate limiter drops to under one request per second after a few throttles. aipctl bounds its
    own concurrency instead; ``AIPCTL_RETRY_MODE=adaptive`` restores botocore's limiter.
    """
    mode = os.environ.get("AIPCTL_RETRY_MODE", "standard")
    if mode not in ("standard", "adaptive", "legacy"):
        raise UsageError(f"AIPCTL_RETRY_MODE={mode!r}: use standard, adaptive or legacy")
    return mode


def max_attempts() -> int:
    """Attempts per AWS call including retries (AIPCTL_MAX_ATTEMPTS, default 10)."""
    raw = os.environ.get("AIPCTL_MAX_ATTEMPTS", "10")
    if not raw.isdigit() or not 1 <= int(raw) <= 50:
        raise UsageError(f"AIPCTL_MAX_ATTEMPTS={raw!r}: use a whole number from 1 to 50")
    return int(raw)


@contextmanager
def open_target(
    kind: TargetKind,
    *,
    region: str | None,
    profile: str | None = None,
    state_dir: str | os.PathLike[str] = DEFAULT_STATE_DIR,
    endpoint_url: str | None = None,
) -> Iterator[Target]:
    """Open a target for the duration of a command (starting the embedded emulator if needed)."""
    import boto3

    if kind == "aws":
        try:
            session = boto3.Session(profile_name=profile, region_name=region)
        except Exception as exc:  # botocore.exceptions.ProfileNotFound and friends
            raise TargetError(f"cannot open AWS profile {profile!r}: {exc}") from None
        resolved = region or session.region_name
        if not resolved:
            raise UsageError("no AWS Region: set `region` in the inventory, pass --region, or set AWS_REGION")
        yield Target("aws", session, resolved, endpoint_url=endpoint_url)
        return
    if profile:
        raise UsageError("--profile applies to --target aws; the emulator needs no credentials")
    session = _sim_session()
    resolved = region or DEFAULT_SIM_REGION
    if endpoint_url:
        yield Target("sim", session, resolved, endpoint_url=endpoint_url)
        return
    sim_dir = Path(state_dir) / "sim"
    server = _start_embedded(sim_dir)
    try:
        yield Target(
            "sim",
            session,
            resolved,
            endpoint_url=server.endpoint_url,
            state_dir=sim_dir,
            embedded=True,
            warnings=list(server.warnings),
        )
    finally:
        server.stop()


def _sim_session() -> Any:
    import boto3
    import botocore.session

    core = botocore.session.Session()
    # A broken or absent AWS_PROFILE must not stop the emulator: it needs no config at all.
    core.set_config_variable("profile", None)
    core.set_config_variable("config_file", os.devnull)
    core.set_config_variable("credentials_file", os.devnull)
    return boto3.Session(aws_access_key_id=SIM_ACCESS_KEY, aws_secret_access_key=SIM_SECRET_KEY, botocore_session=core)


def _start_embedded(sim_dir: Path) -> EmulatorServer:
    from aipctl_sim import EmulatorServer
    from aipctl_sim.state import StateLocked

    try:
        server = EmulatorServer(state_dir=str(sim_dir)).start()
    except StateLocked as exc:
        raise TargetError(str(exc), hint="wait for the other command, or pass another --state-dir") from None
    except OSError as exc:
        raise TargetError(f"cannot start the embedded emulator in {sim_dir}: {exc}") from None
    return server


def _trace_calls(client: Any, service: str, path: str) -> None:
    """``AIPCTL_TRACE_CALLS=FILE``: append ``service Operation`` for every AWS call (``aipctl iam policy`` is checked with it)."""

    def record(model: Any, **_: Any) -> None:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{service} {model.name}\n")

    client.meta.events.register(f"before-call.{client.meta.service_model.service_id.hyphenize()}", record)


_from_epoch, _UTC = dt.datetime.fromtimestamp, dt.timezone.utc


def _epoch_or_text(value: Any) -> Any:
    """botocore's timestamp parser, without its cost for epoch seconds (AWS's JSON protocols send those:
    a 30-day CloudWatch read has ~200,000 of them, and botocore builds a ``tzlocal()`` for each). Epoch
    values and ISO 8601 texts in UTC become UTC datetimes (the same instant botocore gives, in UTC instead
    of local time); anything else goes to botocore's parser."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _from_epoch(value, _UTC)
    if isinstance(value, str) and value[-1:] in ("Z", "z") and "T" in value:  # ISO 8601 in UTC (rest-json)
        try:
            return dt.datetime.fromisoformat(value[:-1] + "+00:00")
        except ValueError:
            pass  # a form fromisoformat does not take (Python 3.10 and odd fractions): botocore's parser
    from botocore.utils import parse_timestamp

    return parse_timestamp(value)


def _fast_timestamps(session: Any) -> None:
    from aipctl.aws.codec import compiled_codec, install_parser

    core = getattr(session, "_session", None)  # boto3.Session wraps a botocore session
    if core is None or getattr(core, "_aipctl_timestamps", False):
        return
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_epoch_or_text)
    if compiled_codec():
        install_parser(core)
    core._aipctl_timestamps = True
