"""Alert targets (issue 17.2): the topic is planned and applied, its subscriptions too, and alerts arrive.

A real HTTP server on the loopback stands in for the HTTPS subscriber and for the chat tools' webhooks;
the emulator's SNS delivers to it over HTTP as SNS would (asynchronously).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MINIMAL_INVENTORY

TOPIC = "arn:aws:sns:eu-central-1:123456789012:finops-alerts"


@pytest.fixture
def receiver() -> Iterator[dict[str, Any]]:
    """A loopback server that records every POST (path, body) and answers 200 (or 500 under /down)."""
    seen: list[tuple[str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append((self.path, body))
            self.send_response(500 if self.path.startswith("/down") else 200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}", "seen": seen}
    finally:
        server.shutdown()


def _inventory(receiver: dict[str, Any], **alerts: Any) -> str:
    base = {
        "sns_topic_arn": TOPIC,
        "emails": ["finops@example.com"],
        "https": [f"{receiver['url']}/sns"],
        "webhooks": [{"url": f"{receiver['url']}/slack", "format": "slack"}, {"url_env": "AIPCTL_TEST_HOOK"}],
    } | alerts
    budget = "    budget: {monthly_usd: 25, alert_at: [80]}\n"
    return (
        MINIMAL_INVENTORY.replace("    models: [embed]\n", "    models: [embed]\n" + budget)
        + "alerts: "
        + json.dumps(base)
        + "\n"
    )


def _wait_for(seen: list[tuple[str, bytes]], path: str) -> bytes:
    for _ in range(100):
        found = [body for p, body in seen if p == path]
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"nothing arrived at {path}: {[p for p, _ in seen]}")


def test_apply_creates_the_topic_and_test_alert_reaches_every_target(
    cli, session, emulator, receiver, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIPCTL_TEST_HOOK", f"{receiver['url']}/env")
    (workdir / "aipctl.yaml").write_text(_inventory(receiver))
    plan = cli("plan", "--json")
    assert plan.code == 0, plan.err
    steps = sorted((c["kind"], c["name"]) for c in plan.json["alerts"])
    assert steps == [
        ("subscription", "email:finops@example.com"),
        ("subscription", f"http:{receiver['url']}/sns"),
        ("topic", TOPIC),
        ("topic-policy", TOPIC),
    ]
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.err
    assert "Alert topic: 4 step(s) applied, 0 failed." in applied.out
    sns = session.client("sns", endpoint_url=emulator)
    policy = json.loads(sns.get_topic_attributes(TopicArn=TOPIC)["Attributes"]["Policy"])
    budgets = next(s for s in policy["Statement"] if s.get("Sid") == "AipctlBudgetsPublish")
    assert budgets["Principal"] == {"Service": "budgets.amazonaws.com"} and budgets["Resource"] == TOPIC
    assert budgets["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert len(policy["Statement"]) > 1, "the topic's default statements are kept"
    subscribed = {(s["Protocol"], s["Endpoint"]) for s in sns.list_subscriptions_by_topic(TopicArn=TOPIC)["Subscriptions"]}
    assert subscribed == {("email", "finops@example.com"), ("http", f"{receiver['url']}/sns")}
    notification = session.client(
        "budgets", region_name="us-east-1", endpoint_url=emulator
    ).describe_subscribers_for_notification(
        AccountId="123456789012",
        BudgetName="aipctl-test-batch",
        Notification={
            "NotificationType": "ACTUAL",
            "ComparisonOperator": "GREATER_THAN",
            "Threshold": 80.0,
            "ThresholdType": "PERCENTAGE",
        },
    )["Subscribers"]
    assert notification == [{"SubscriptionType": "SNS", "Address": TOPIC}], "e-mails come through the topic: once each"
    assert cli("plan", "--detailed-exitcode").code == 0, "converged"

    sent = cli("guard", "test-alert", "--json")
    assert sent.code == 0, sent.err
    assert [d["ok"] for d in sent.json] == [True, True, True]
    assert "https://" not in sent.out and receiver["url"] not in sent.out, "webhook URLs are secrets: named by host only"
    delivered = json.loads(_wait_for(receiver["seen"], "/sns"))
    assert delivered["Type"] == "Notification" and delivered["TopicArn"] == TOPIC and "test alert" in delivered["Message"]
    assert "test alert" in json.loads(_wait_for(receiver["seen"], "/slack"))["text"]
    generic = json.loads(_wait_for(receiver["seen"], "/env"))
    assert generic["source"] == "aipctl" and generic["kind"] == "test"


def test_an_undeliverable_webhook_is_reported_and_exits_1(cli, receiver, workdir: Path, monkeypatch) -> None:
    monkeypatch.delenv("AIPCTL_TEST_HOOK", raising=False)
    inventory = _inventory(receiver, webhooks=[{"url": f"{receiver['url']}/down"}, {"url_env": "AIPCTL_TEST_HOOK"}])
    (workdir / "aipctl.yaml").write_text(inventory)
    assert cli("apply", "--yes").code == 0
    sent = cli("guard", "test-alert", "--json")
    assert sent.code == 1
    by_target = {d["target"]: d for d in sent.json}
    assert by_target[TOPIC]["ok"] is True
    assert by_target["webhook 127.0.0.1"] == {"target": "webhook 127.0.0.1", "ok": False, "detail": "HTTP 500"}
    assert "AIPCTL_TEST_HOOK is not set" in by_target["webhook $AIPCTL_TEST_HOOK"]["detail"]


def test_topics_aipctl_cannot_use_or_does_not_own(cli, session, emulator, receiver, workdir: Path) -> None:
    elsewhere = TOPIC.replace("eu-central-1", "us-east-1")
    (workdir / "aipctl.yaml").write_text(_inventory(receiver, sns_topic_arn=elsewhere, https=[], webhooks=[]))
    refused = cli("plan")
    assert refused.code != 0 and "can only notify a topic in their own Region" in refused.err
    sns = session.client("sns", endpoint_url=emulator)
    sns.create_topic(Name="finops-alerts")  # somebody else's topic, without the statement for Budgets
    before = sns.get_topic_attributes(TopicArn=TOPIC)["Attributes"]["Policy"]
    (workdir / "aipctl.yaml").write_text(_inventory(receiver, https=[], webhooks=[]))
    plan = cli("plan", "--json")
    assert [c["kind"] for c in plan.json["alerts"]] == ["subscription"]
    assert any("is not aipctl's, so its policy is left alone" in w for w in plan.json["warnings"])
    assert cli("apply", "--yes").code == 0
    assert sns.get_topic_attributes(TopicArn=TOPIC)["Attributes"]["Policy"] == before, "a foreign policy is not rewritten"


def test_alert_targets_are_validated_with_their_line(cli, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY + 'alerts: {webhooks: [{url: "http://hooks.example.com/x"}]}\n')
    result = cli("plan")
    assert result.code == 2 and "aipctl.yaml:" in result.err and "is not an https:// URL" in result.err
