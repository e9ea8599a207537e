"""CUR 2.0 as the bill of record (issue 13.4, 13.5, 13.7), end to end against the emulator with real boto3:
`cur setup` creates the export, the emulator delivers daily Parquet revisions, `meter ingest` replaces a
billing period's revision instead of adding it, and `reconcile` is clean on clean data and names the
caller whose invocation-log object is missing.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from aipctl.inventory import load_inventory
from aipctl.sessions import TenantSessions
from tests.conftest import log_destinations
from tests.report.test_principal_plane import INVENTORY, _aips, _converse, _role_session

LOGS = "s3://cur-test-logs/bedrock"


@pytest.fixture
def account(cli, sim, session, emulator: str, workdir: Path) -> dict[str, Any]:
    """The SaaS inventory applied, invocation logging on, and the roles and tenant sessions of its callers."""
    iam = session.client("iam", endpoint_url=emulator)
    for role in ("gateway", "chat-task", "sidecar", "legacy-job"):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    log_destinations(lambda service: session.client(service, endpoint_url=emulator), "cur-test-logs", "bedrock")
    session.client("bedrock", endpoint_url=emulator).put_model_invocation_logging_configuration(
        loggingConfig={"s3Config": {"bucketName": "cur-test-logs", "keyPrefix": "bedrock"}, "textDataDeliveryEnabled": False}
    )
    (workdir / "aipctl.yaml").write_text(INVENTORY)
    tenants = TenantSessions(load_inventory(workdir / "aipctl.yaml"), session=session, endpoint_url=emulator)
    sessions = {t: tenants.session("gateway", t) for t in ("acme", "globex")}
    assert cli("apply", "--yes").code == 0
    aips = _aips(session, emulator)
    return {"tenants": sessions, "aips": aips, "chat": _role_session(session, emulator, "chat-task")}


def _ce_total(session: Any, emulator: str, start: str, end: str) -> Decimal:
    answer = session.client("ce", endpoint_url=emulator).get_cost_and_usage(
        TimePeriod={"Start": start, "End": end}, Granularity="MONTHLY", Metrics=["UnblendedCost"]
    )
    return sum((Decimal(p["Total"]["UnblendedCost"]["Amount"]) for p in answer["ResultsByTime"]), Decimal(0))


def test_cur_revisions_replace_and_reconciliation_is_clean(cli, sim, session, emulator: str, account, workdir: Path) -> None:
    setup = cli("cur", "setup", "--yes", "--json")
    assert setup.code == 0, setup.err
    export = setup.json
    assert export["created"] and export["iam_principal_data"]
    again = cli("cur", "setup", "--yes", "--json")
    assert again.code == 0 and not again.json["created"] and again.json["export_arn"] == export["export_arn"]
    exports = session.client("bcm-data-exports", endpoint_url=emulator, region_name="us-east-1")
    described = exports.get_export(ExportArn=export["export_arn"])["Export"]
    assert described["DataQuery"]["TableConfigurations"]["COST_AND_USAGE_REPORT"]["INCLUDE_IAM_PRINCIPAL_DATA"] == "TRUE"
    assert described["DestinationConfigurations"]["S3Destination"]["S3OutputConfigurations"]["Format"] == "PARQUET"

    _converse(account["tenants"]["acme"], emulator, account["aips"]["gateway-sonnet"], 3)
    _converse(account["tenants"]["globex"], emulator, account["aips"]["gateway-sonnet"], 1)
    _converse(account["chat"], emulator, account["aips"]["chat-sonnet"], 2)
    sim.advance(2 * 86400)

    first = cli("meter", "ingest", export["source"], "--json")
    assert first.code == 0, first.err
    cur = first.json["cur"]
    assert cur["billing_periods"] >= 1 and cur["lines"] > 0 and cur["replaced_lines"] == 0
    unchanged = cli("meter", "ingest", export["source"], "--json").json["cur"]
    assert unchanged["billing_periods"] == 0 and unchanged["unchanged_periods"] == cur["billing_periods"]

    _converse(account["chat"], emulator, account["aips"]["chat-sonnet"], 2)  # the month goes on
    sim.advance(2 * 86400)
    revised = cli("meter", "ingest", export["source"], "--json").json["cur"]
    assert revised["billing_periods"] >= 1 and revised["replaced_lines"] == cur["lines"], "the old revision is replaced"
    assert revised["lines"] > cur["lines"]

    ledger = duckdb.connect(str(workdir / ".aipctl" / "ledger.duckdb"), read_only=True)
    billed = Decimal(str(ledger.execute("SELECT sum(unblended_cost) FROM bill_lines").fetchone()[0]))  # type: ignore[index]
    tenants = dict(ledger.execute("SELECT tenant, count(*) FROM bill_lines WHERE tenant IS NOT NULL GROUP BY 1").fetchall())
    principals = {r[0] for r in ledger.execute("SELECT DISTINCT principal_arn FROM bill_lines").fetchall()}
    ledger.close()
    clock = sim.clock()
    now = clock["now"][:10]
    assert abs(billed - _ce_total(session, emulator, "2026-01-01", now)) < Decimal("0.000001"), "counted once"
    assert set(tenants) == {"acme", "globex"}
    assert "arn:aws:sts::123456789012:assumed-role/gateway/acme" in principals

    assert cli("meter", "ingest", LOGS, "--json").code == 0
    result = cli("reconcile", "--since", "10d", "--watermark", "24h", "--tolerance-usd", "0.000001", "--json")
    assert result.code == 0, result.out + result.err
    rows = result.json
    assert {(r["caller"], r["tenant"]) for r in rows} >= {
        ("gateway", None),
        ("gateway", "acme"),
        ("gateway", "globex"),
        ("chat", None),
    }
    assert all(r["ok"] and abs(r["drift_usd"]) < 1e-6 and r["billed_source"] == "cur" for r in rows)
    assert {"caller", "tenant", "metered_usd", "billed_usd", "drift_usd", "ok"} <= set(rows[0])


def test_reconcile_names_the_caller_whose_log_object_is_missing(cli, sim, session, emulator: str, account, workdir: Path) -> None:
    export = cli("cur", "setup", "--yes", "--json").json
    _converse(account["chat"], emulator, account["aips"]["chat-sonnet"], 3)
    sim.advance(3 * 3600)  # the gateway's calls land in another hour, hence in other log objects
    _converse(account["tenants"]["acme"], emulator, account["aips"]["gateway-sonnet"], 2)
    sim.advance(2 * 86400)
    s3 = session.client("s3", endpoint_url=emulator)
    objects = s3.list_objects_v2(Bucket="cur-test-logs", Prefix="bedrock/")["Contents"]
    hours = sorted({o["Key"].rsplit("/", 1)[0] for o in objects})
    assert len(hours) == 2
    for item in objects:  # the chat hour's object is lost
        if item["Key"].startswith(hours[0]):
            s3.delete_object(Bucket="cur-test-logs", Key=item["Key"])

    assert cli("meter", "ingest", LOGS).code == 0
    assert cli("meter", "ingest", export["source"]).code == 0
    result = cli("reconcile", "--since", "10d", "--watermark", "24h", "--tolerance-usd", "0.000001", "--json")
    assert result.code == 1, "drift exits 1"
    drifting = [r for r in result.json if not r["ok"]]
    assert {r["caller"] for r in drifting} == {"chat"}
    assert drifting[0]["metered_usd"] == 0 and drifting[0]["billed_usd"] > 0
    assert "invocation logs missing" in drifting[0]["cause"]
    assert all(r["ok"] for r in result.json if r["caller"] == "gateway")
    text = cli("reconcile", "--since", "10d", "--watermark", "24h", "--tolerance-usd", "0.000001")
    assert text.code == 1 and "DRIFT" in text.out and "1 row(s) drift" in text.err


def test_bad_cur_input_is_refused_clearly(cli, workdir: Path, account) -> None:
    folder = workdir / "cur" / "x" / "data" / "BILLING_PERIOD=2026-12"
    folder.mkdir(parents=True)
    (folder / "x-00001.snappy.parquet").write_bytes(b"PAR1 this is not parquet")
    result = cli("meter", "ingest", str(workdir / "cur"))
    assert result.code != 0 and "not a readable CUR 2.0 Parquet file" in result.err and "Traceback" not in result.err
    duckdb.sql(f"COPY (SELECT 1 AS a) TO '{folder / 'x-00001.snappy.parquet'}' (FORMAT PARQUET)")
    result = cli("meter", "ingest", str(workdir / "cur"))
    assert result.code != 0 and "not CUR 2.0 data (no line_item_usage_start_date" in result.err
    assert cli("reconcile", "--ledger", str(workdir / "none.duckdb")).code != 0
