"""Where the emulator reaches into moto's internals (with ``_moto_cfn`` for CloudFormation runs).
Pinned to moto 5.2.x (see pyproject.toml).

- moto's dispatcher rescans its own package directory on every request to map a host to a
  backend (~180 ``stat`` calls a request); we memoise that lookup per host.
- Our CloudFormation resource types must be defined before moto first builds its model map.
- moto's own services tell time with ``moto.core.utils.utcnow``: it is made to read the emulator's
  clock, so ``aipctl sim clock advance`` moves CloudFormation, Logs, STS … with everything else.
- moto delivers to HTTP(S) subscriptions inside ``Publish`` and fails the publish when the endpoint
  does not answer; SNS delivers asynchronously (with retries) and ``Publish`` succeeds regardless.
  Deliveries go to a background thread with a timeout; failures are logged, not raised.
"""

from __future__ import annotations

import datetime as dt
import types
from importlib.metadata import version

_installed = False
SUPPORTED = ("5.2.",)


def install() -> None:
    global _installed
    if _installed:
        return
    moto_version = version("moto")
    if not moto_version.startswith(SUPPORTED):
        raise RuntimeError(f"aipctl sim supports moto {', '.join(SUPPORTED)}x, found {moto_version}")
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    cache: dict[str | None, object] = {}

    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> object:
        if host not in cache:
            cache[host] = original(self, host)
        return cache[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]
    _clock_moto()
    _async_http_deliveries()
    from aipctl_sim.bedrock import cloudformation  # noqa: F401  (registers AWS::Bedrock::ApplicationInferenceProfile)
    from aipctl_sim.ce import models as _ce  # noqa: F401

    _installed = True


class _SimDatetime(dt.datetime):
    """``datetime.datetime`` whose ``now`` is the emulator's clock."""

    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
        from aipctl_sim import settings

        current = settings.now()
        return current.astimezone(tz) if tz is not None else current.astimezone().replace(tzinfo=None)

    @classmethod
    def utcnow(cls) -> dt.datetime:  # type: ignore[override]
        from aipctl_sim import settings

        return settings.now().replace(tzinfo=None)


class _DatetimeModule(types.ModuleType):
    """The ``datetime`` module as ``moto.core.utils`` sees it: the same, but for the clock."""

    datetime = _SimDatetime

    def __getattr__(self, name: str) -> object:
        return getattr(dt, name)


def _clock_moto() -> None:
    import moto.core.utils

    moto.core.utils.datetime = _DatetimeModule("datetime")  # type: ignore[attr-defined]


def _async_http_deliveries() -> None:
    import logging
    import threading

    import requests
    from moto.sns.models import Subscription

    publish = Subscription.publish
    log = logging.getLogger("aipctl_sim")

    def deliver(
        self: Subscription,
        message: str,
        message_id: str,
        subject: str | None = None,
        message_attributes: dict[str, object] | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
        message_structure: str | None = None,
    ) -> None:
        if self.protocol not in ("http", "https"):
            publish(self, message, message_id, subject, message_attributes, group_id, deduplication_id, message_structure)
            return
        matcher = self._filter_policy_matcher
        if matcher is not None and not matcher.matches(message_attributes, message):
            return
        if message_structure == "json":
            message = self._parse_message_structure(message, self.protocol)
        data = self.get_post_data(message, message_id, subject)

        def send() -> None:
            try:
                requests.post(self.endpoint, json=data, headers={"Content-Type": "text/plain; charset=UTF-8"}, timeout=10)
            except requests.RequestException as exc:
                log.info("SNS delivery to %s failed: %s", self.endpoint, exc)

        threading.Thread(target=send, name="aipctl-sim-sns", daemon=True).start()

    Subscription.publish = deliver  # type: ignore[method-assign]
