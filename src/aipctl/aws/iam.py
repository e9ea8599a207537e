"""IAM adapter: the inline policies aipctl puts on callers' roles and users (anti-bypass, brake).

aipctl only ever writes or deletes inline policies whose names start with ``aipctl-``.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from typing import Any

from aipctl._exceptions import AwsError
from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target
from aipctl.inventory.rules import principal_pattern as _role_pattern

POLICY_PREFIX = "aipctl-"


@dataclass(frozen=True)
class Principal:
    kind: str  # role | user
    name: str
    arn: str


class Iam:
    def __init__(self, target: Target) -> None:
        self.client = target.client("iam")
        self._listed: dict[str, list[Principal]] = {}  # kind -> every role or user, listed once per instance

    @requires("iam:ListRoles", "iam:ListUsers")
    def _all(self, kind: str) -> list[Principal]:
        if kind not in self._listed:
            operation, key, name_key = (
                ("list_roles", "Roles", "RoleName") if kind == "role" else ("list_users", "Users", "UserName")
            )
            found: list[Principal] = []
            kwargs: dict[str, Any] = {}
            while True:
                with aws_call("iam", operation.title().replace("_", "")):
                    page = getattr(self.client, operation)(**kwargs)
                found += [Principal(kind, item[name_key], item["Arn"]) for item in page.get(key, [])]
                if not page.get("IsTruncated"):
                    break
                kwargs["Marker"] = page["Marker"]
            self._listed[kind] = found
        return self._listed[kind]

    @requires("iam:ListRoles", "iam:ListUsers")  # through _all
    def principals_matching(self, patterns: list[str]) -> list[Principal]:
        """Roles and users of the account whose ARN matches one of the identity patterns.

        The account's roles and users are listed once per :class:`Iam`, however many callers ask.
        """
        wanted = [p for p in (_role_pattern(x) for x in patterns) if p is not None]
        found: dict[str, Principal] = {}
        for kind in ("role", "user"):
            arn_patterns = [arn for k, arn in wanted if k == kind]
            if not arn_patterns:
                continue
            for principal in self._all(kind):
                # A role ARN may carry a path (role/service/name); patterns usually say role/name.
                head, _, resource = principal.arn.rpartition(":")
                pathless = f"{head}:{resource.split('/')[0]}/{resource.rsplit('/', 1)[-1]}"
                if any(fnmatch.fnmatchcase(principal.arn, p) or fnmatch.fnmatchcase(pathless, p) for p in arn_patterns):
                    found[principal.arn] = principal
        return sorted(found.values(), key=lambda p: p.arn)

    @requires("iam:PutRolePolicy", "iam:PutUserPolicy")
    def put_policy(self, principal: Principal, name: str, document: dict[str, Any]) -> None:
        assert name.startswith(POLICY_PREFIX), "aipctl writes only its own policies"
        body = json.dumps(document, separators=(",", ":"))
        if principal.kind == "role":
            with aws_call("iam", "PutRolePolicy", principal.arn):
                self.client.put_role_policy(RoleName=principal.name, PolicyName=name, PolicyDocument=body)
        else:
            with aws_call("iam", "PutUserPolicy", principal.arn):
                self.client.put_user_policy(UserName=principal.name, PolicyName=name, PolicyDocument=body)

    @requires("iam:DeleteRolePolicy", "iam:DeleteUserPolicy")
    def delete_policy(self, principal: Principal, name: str) -> bool:
        """Delete aipctl's inline policy ``name``; False when it was not there."""
        assert name.startswith(POLICY_PREFIX), "aipctl deletes only its own policies"
        try:
            if principal.kind == "role":
                with aws_call("iam", "DeleteRolePolicy", principal.arn):
                    self.client.delete_role_policy(RoleName=principal.name, PolicyName=name)
            else:
                with aws_call("iam", "DeleteUserPolicy", principal.arn):
                    self.client.delete_user_policy(UserName=principal.name, PolicyName=name)
        except AwsError as exc:
            if exc.code == "NoSuchEntity":
                return False
            raise
        return True

    @requires("iam:ListRoleTags", "iam:ListUserTags")
    def tags_of(self, principal: Principal) -> dict[str, str]:
        """Every tag of a role or user (paginated: IAM pages tags like everything else)."""
        operation, key = ("list_role_tags", "RoleName") if principal.kind == "role" else ("list_user_tags", "UserName")
        tags: dict[str, str] = {}
        kwargs: dict[str, Any] = {key: principal.name}
        while True:
            with aws_call("iam", operation.title().replace("_", ""), principal.arn):
                page = getattr(self.client, operation)(**kwargs)
            tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
            if not page.get("IsTruncated"):
                return tags
            kwargs["Marker"] = page["Marker"]

    @requires("iam:TagRole", "iam:TagUser")
    def tag(self, principal: Principal, tags: dict[str, str]) -> None:
        if not tags:
            return
        body = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
        if principal.kind == "role":
            with aws_call("iam", "TagRole", principal.arn):
                self.client.tag_role(RoleName=principal.name, Tags=body)
        else:
            with aws_call("iam", "TagUser", principal.arn):
                self.client.tag_user(UserName=principal.name, Tags=body)

    @requires("iam:UntagRole", "iam:UntagUser")
    def untag(self, principal: Principal, keys: list[str]) -> None:
        if not keys:
            return
        if principal.kind == "role":
            with aws_call("iam", "UntagRole", principal.arn):
                self.client.untag_role(RoleName=principal.name, TagKeys=sorted(keys))
        else:
            with aws_call("iam", "UntagUser", principal.arn):
                self.client.untag_user(UserName=principal.name, TagKeys=sorted(keys))

    @requires("iam:ListRoles", "iam:ListUsers")  # through _all
    def every_principal(self) -> list[Principal]:
        """Every role and user of the account (``--prune`` looks for principals aipctl tagged earlier)."""
        return self._all("role") + self._all("user")

    @requires("iam:GetRolePolicy", "iam:GetUserPolicy")
    def get_policy(self, principal: Principal, name: str) -> dict[str, Any] | None:
        """aipctl's inline policy ``name`` on a role or user (None: not there); reading needs no write rights."""
        import urllib.parse

        try:
            if principal.kind == "role":
                with aws_call("iam", "GetRolePolicy", principal.arn):
                    document = self.client.get_role_policy(RoleName=principal.name, PolicyName=name)["PolicyDocument"]
            else:
                with aws_call("iam", "GetUserPolicy", principal.arn):
                    document = self.client.get_user_policy(UserName=principal.name, PolicyName=name)["PolicyDocument"]
        except AwsError as exc:
            if exc.code == "NoSuchEntity":
                return None
            raise
        if isinstance(document, str):  # the API returns it URL-encoded; boto3 decodes JSON when it can
            document = json.loads(urllib.parse.unquote(document))
        return dict(document)
