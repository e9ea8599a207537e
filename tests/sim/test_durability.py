"""What `aipctl sim serve` acknowledged survives SIGKILL (issue 12.10): the journal of writes.

Every check writes through unmodified boto3 clients, kills the server with SIGKILL right after the
last answer, starts a new server on the same state directory and reads everything back.
"""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest

from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY
from tests.conftest import AIPCTL, aipctl_subprocess_env, log_destinations

REGION = "eu-central-1"
SONNET = "arn:aws:bedrock:eu-central-1::foundation-model/anthropic.claude-sonnet-4-6"
SONNET_PROFILE = "arn:aws:bedrock:eu-central-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-6"


@contextmanager
def serve(state: Path, *extra: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    proc = subprocess.Popen(
        [*AIPCTL, "--state-dir", str(state), "sim", "serve", "--port", "0", *extra],
        env=aipctl_subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.stderr else ""
    try:
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def client(url: str, service: str) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id=SIM_ACCESS_KEY,
        aws_secret_access_key=SIM_SECRET_KEY,
    )


def kill(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return proc.stderr.read() if proc.stderr else ""


def _account_view(url: str) -> dict[str, Any]:
    bedrock, iam, s3, ssm = (client(url, s) for s in ("bedrock", "iam", "s3", "ssm"))
    profiles = bedrock.list_inference_profiles(typeEquals="APPLICATION", maxResults=1000)["inferenceProfileSummaries"]
    keys = iam.list_access_keys(UserName="tenant-a")["AccessKeyMetadata"]
    logs = s3.list_objects_v2(Bucket="inv-logs", Prefix="bedrock/").get("Contents", [])
    records = [
        json.loads(line)
        for obj in logs
        for line in gzip.decompress(s3.get_object(Bucket="inv-logs", Key=obj["Key"])["Body"].read()).splitlines()
    ]
    return {
        "profiles": sorted((p["inferenceProfileArn"], p["inferenceProfileName"], str(p["createdAt"])) for p in profiles),
        "tags": {
            p["inferenceProfileName"]: bedrock.list_tags_for_resource(resourceARN=p["inferenceProfileArn"])["tags"]
            for p in profiles
        },
        "access_keys": sorted(k["AccessKeyId"] for k in keys),
        "object": s3.get_object(Bucket="inv-logs", Key="notes/readme.txt")["Body"].read().decode(),
        "parameter": ssm.get_parameter(Name="/aipctl/chat/profile")["Parameter"]["Value"],
        "log_records": sorted(r["requestId"] for r in records),
        "clock_offset_s": json.loads(_get(url, "clock"))["offset_s"],
    }


def _get(url: str, path: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"{url}/_aipctl/{path}", timeout=30) as answer:
        return str(answer.read().decode())


def _post(url: str, path: str, payload: dict[str, Any]) -> None:
    import urllib.request

    request = urllib.request.Request(f"{url}/_aipctl/{path}", data=json.dumps(payload).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30):
        pass


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    with serve(tmp_path) as (url, proc):
        bedrock, runtime, s3, iam = (client(url, s) for s in ("bedrock", "bedrock-runtime", "s3", "iam"))
        log_destinations(lambda service: client(url, service), "inv-logs", "bedrock")
        s3.put_object(Bucket="inv-logs", Key="notes/readme.txt", Body=b"kept")
        bedrock.put_model_invocation_logging_configuration(
            loggingConfig={"s3Config": {"bucketName": "inv-logs", "keyPrefix": "bedrock"}, "textDataDeliveryEnabled": False}
        )
        arns = []
        for i in range(25):
            arns.append(
                bedrock.create_inference_profile(
                    inferenceProfileName=f"chat-{i}",
                    modelSource={"copyFrom": SONNET_PROFILE if i % 2 else SONNET},
                    tags=[{"key": "Tenant", "value": f"t{i}"}],
                )["inferenceProfileArn"]
            )
        bedrock.tag_resource(resourceARN=arns[3], tags=[{"key": "CostCenter", "value": "cc-7"}])
        bedrock.untag_resource(resourceARN=arns[4], tagKeys=["Tenant"])
        bedrock.delete_inference_profile(inferenceProfileIdentifier=arns[5])
        iam.create_user(UserName="tenant-a")
        iam.create_access_key(UserName="tenant-a")
        client(url, "ssm").put_parameter(Name="/aipctl/chat/profile", Value=arns[0], Type="String")
        iam.create_role(RoleName="gateway", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
        credentials = client(url, "sts").assume_role(
            RoleArn="arn:aws:iam::123456789012:role/gateway", RoleSessionName="tenant-b"
        )["Credentials"]
        template = {
            "Resources": {
                "Profile": {
                    "Type": "AWS::Bedrock::ApplicationInferenceProfile",
                    "Properties": {"InferenceProfileName": "from-stack", "ModelSource": {"CopyFrom": SONNET}},
                }
            }
        }
        client(url, "cloudformation").create_stack(StackName="aips", TemplateBody=json.dumps(template))
        _post(url, "clock/advance", {"seconds": 3600})
        request_ids = []
        for arn in arns[6:12]:
            answer = runtime.converse(modelId=arn, messages=[{"role": "user", "content": [{"text": "hello"}]}])
            request_ids.append(answer["ResponseMetadata"]["RequestId"])
        log_object = client(url, "s3").list_objects_v2(Bucket="inv-logs", Prefix="bedrock/")  # flushes the records
        assert log_object["KeyCount"] == 1
        answer = runtime.converse(modelId=arns[12], messages=[{"role": "user", "content": [{"text": "late"}]}])
        request_ids.append(answer["ResponseMetadata"]["RequestId"])  # its record still waits for an object
        before = _account_view(url)
        kill(proc)

    assert not (tmp_path / "sim" / "state.pkl").exists(), "nothing was snapshotted: the journal alone must carry it"
    assert len(before["profiles"]) == 25 and before["access_keys"] and before["log_records"] == sorted(request_ids)
    with serve(tmp_path) as (url, proc):
        after = _account_view(url)
        trail = client(url, "cloudtrail")
        events = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Converse"}])
        created = trail.lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateInferenceProfile"}], MaxResults=50
        )
        session = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=REGION,
        )
        caller = session.client("sts", endpoint_url=url).get_caller_identity()
        stack = client(url, "cloudformation").describe_stacks(StackName="aips")["Stacks"][0]
        kill(proc)  # a second kill right after a replay: the replay was snapshotted
    assert after == before
    assert caller["Arn"] == "arn:aws:sts::123456789012:assumed-role/gateway/tenant-b", "issued credentials still work"
    assert stack["StackStatus"] == "CREATE_COMPLETE" and "from-stack" in {n for _arn, n, _t in after["profiles"]}
    assert len(events["Events"]) == 7
    assert len(created["Events"]) == 25, "replayed writes are not logged twice"
    with serve(tmp_path) as (url, proc):
        assert _account_view(url) == before


def test_a_kill_during_a_write_leaves_the_acknowledged_ones(tmp_path: Path) -> None:
    """An entry cut short by the kill was never answered: it is skipped, everything before it replays."""
    with serve(tmp_path) as (url, proc):
        bedrock = client(url, "bedrock")
        bedrock.create_inference_profile(inferenceProfileName="kept", modelSource={"copyFrom": SONNET})
        kill(proc)
    journal = tmp_path / "sim" / "journal.jsonl"
    journal.write_bytes(journal.read_bytes() + b'{"seq": 99, "kind": "http", "environ": {"REQUEST_')
    with serve(tmp_path) as (url, proc):
        names = [
            p["inferenceProfileName"]
            for p in client(url, "bedrock").list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
        ]
    assert names == ["kept"]


def test_a_damaged_journal_is_set_aside_with_a_warning(tmp_path: Path) -> None:
    with serve(tmp_path) as (url, proc):
        client(url, "bedrock").create_inference_profile(inferenceProfileName="one", modelSource={"copyFrom": SONNET})
        client(url, "bedrock").create_inference_profile(inferenceProfileName="two", modelSource={"copyFrom": SONNET})
        kill(proc)
    journal = tmp_path / "sim" / "journal.jsonl"
    lines = journal.read_bytes().split(b"\n")
    journal.write_bytes(b"\n".join([b"garbage", *lines]))
    with serve(tmp_path) as (url, proc):
        listed = client(url, "bedrock").list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
        stderr = kill(proc)
    assert listed == []
    assert "journal.jsonl:1 is not a journal entry" in stderr and list((tmp_path / "sim").glob("journal.*.bak"))


@pytest.mark.parametrize("durability", ["journal", "snapshot"])
def test_a_clean_stop_snapshots_and_empties_the_journal(tmp_path: Path, durability: str) -> None:
    with serve(tmp_path, "--durability", durability) as (url, _proc):
        client(url, "bedrock").create_inference_profile(inferenceProfileName="one", modelSource={"copyFrom": SONNET})
    assert (tmp_path / "sim" / "state.pkl").exists()
    assert (tmp_path / "sim" / "journal.jsonl").read_bytes() == b""
    with serve(tmp_path, "--durability", durability) as (url, _proc):
        listed = client(url, "bedrock").list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
    assert [p["inferenceProfileName"] for p in listed] == ["one"]
