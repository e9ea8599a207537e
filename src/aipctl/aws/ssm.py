"""SSM Parameter Store adapter: the AIP ARNs that `aipctl wire --format ssm` publishes."""

from __future__ import annotations

from aipctl._exceptions import AwsError
from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target


class Parameters:
    def __init__(self, target: Target) -> None:
        self.client = target.client("ssm")

    @requires("ssm:GetParameter")
    def value(self, name: str) -> str | None:
        """The parameter's value, None when it does not exist."""
        try:
            with aws_call("ssm", "GetParameter", name):
                return str(self.client.get_parameter(Name=name)["Parameter"]["Value"])
        except AwsError as exc:
            if exc.code != "ParameterNotFound":
                raise
        return None

    @requires("ssm:GetParameter", "ssm:PutParameter")
    def put_if_changed(self, name: str, value: str, description: str) -> bool:
        """Write a String parameter unless it already holds ``value``; True when written."""
        try:
            with aws_call("ssm", "GetParameter", name):
                current = self.client.get_parameter(Name=name)["Parameter"]["Value"]
            if current == value:
                return False
        except AwsError as exc:
            if exc.code != "ParameterNotFound":
                raise
        with aws_call("ssm", "PutParameter", name):
            self.client.put_parameter(Name=name, Value=value, Type="String", Overwrite=True, Description=description)
        return True
