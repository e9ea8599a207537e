"""Creating an S3 bucket in a Region: the one place aipctl calls CreateBucket (the callers declare s3:CreateBucket)."""

from __future__ import annotations

from typing import Any

from aipctl._exceptions import AwsError
from aipctl.aws.errors import aws_call


def create_bucket(s3: Any, name: str, region: str, *, exist_ok: bool = False) -> bool:
    """Create ``name`` in ``region`` (a LocationConstraint everywhere but us-east-1); True when it was made.

    ``exist_ok``: a bucket this account already owns is fine (``BucketAlreadyOwnedByYou``). A bucket
    someone else owns (``BucketAlreadyExists``) is always an error: nothing of ours may be written there.
    """
    kwargs: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        with aws_call("s3", "CreateBucket", name):
            s3.create_bucket(**kwargs)
    except AwsError as exc:
        if exist_ok and exc.code == "BucketAlreadyOwnedByYou":
            return False
        raise
    return True
