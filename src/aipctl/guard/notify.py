"""Alert delivery: the inventory's SNS topic and its chat-tool webhooks, one call for both.

A webhook gets a POST with a JSON body: ``{"text": …}`` for Slack and Microsoft Teams incoming
webhooks, else ``{"source": "aipctl", "caller", "kind", "subject", "message"}``. Its URL is a secret
(it carries the token), so it may come from an environment variable (``url_env``) and is never
printed: deliveries name a webhook by its host. Nothing follows a redirect to another host; a
delivery that fails is reported, never raised (an alert must not stop the brake after it).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from aipctl._exceptions import AwsError
from aipctl.aws.sns import Topics
from aipctl.aws.target import Target
from aipctl.inventory.model import Alerts, Webhook

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Delivery:
    target: str  # the topic ARN, or "webhook <host>"
    ok: bool
    detail: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"target": self.target, "ok": self.ok, "detail": self.detail}


def deliver(
    target: Target, alerts: Alerts | None, subject: str, message: str, *, caller: str = "", kind: str = "alert"
) -> list[Delivery]:
    """Send one alert to every target the inventory names; one Delivery per target."""
    if alerts is None:
        return []
    out: list[Delivery] = []
    if alerts.sns_topic_arn:
        try:
            Topics(target).publish(alerts.sns_topic_arn, subject, message)
            out.append(Delivery(alerts.sns_topic_arn, True))
        except AwsError as exc:
            out.append(Delivery(alerts.sns_topic_arn, False, exc.code))
    for hook in alerts.webhooks:
        out.append(post(hook, subject, message, caller=caller, kind=kind))
    return out


def post(hook: Webhook, subject: str, message: str, *, caller: str, kind: str) -> Delivery:
    url = hook.url or os.environ.get(hook.url_env or "", "")
    if not url:
        return Delivery(f"webhook ${hook.url_env}", False, f"environment variable {hook.url_env} is not set")
    host = urlsplit(url).hostname or "?"
    name = f"webhook {host}"
    body: dict[str, str]
    if hook.format in ("slack", "teams"):
        body = {"text": f"*{subject}*\n{message}" if hook.format == "slack" else f"**{subject}**\n\n{message}"}
    else:
        body = {"source": "aipctl", "caller": caller, "kind": kind, "subject": subject, "message": message}
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "aipctl"},
        method="POST",
    )
    opener = urllib.request.build_opener(_SameHostRedirects(host))
    try:
        with opener.open(request, timeout=TIMEOUT_S) as answer:
            return Delivery(name, 200 <= answer.status < 300, f"HTTP {answer.status}")
    except urllib.error.HTTPError as exc:
        return Delivery(name, False, f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Delivery(name, False, str(getattr(exc, "reason", exc))[:200])


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the same host (a webhook answer must not send the alert elsewhere)."""

    def __init__(self, host: str) -> None:
        self.host = host

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urlsplit(newurl).hostname != self.host:
            raise urllib.error.HTTPError(newurl, code, f"redirect to another host refused ({msg})", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)
