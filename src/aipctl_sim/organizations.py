"""AWS Organizations as aipctl needs it: member accounts reachable by role, and consolidated billing.

moto serves Organizations (accounts, OUs, policies) and STS, and keeps each account's state apart (an
access key belongs to one account; ``AssumeRole`` into ``arn:aws:iam::<id>:role/...`` gives keys of that
account). Three things it leaves out, added here:

* ``CreateAccount`` creates the member account's access role (``RoleName``, default
  ``OrganizationAccountAccessRole``), trusted by the management account and with ``AdministratorAccess``
  attached, as Organizations does (Organizations user guide, "Accessing member accounts": "the role grants
  full administrative permissions in the member account ... trusts the management account").
* ``AssumeRole`` across accounts needs the role to exist and its trust policy to name the caller (its account
  root, its account id, its ARN, or ``*``); otherwise ``AccessDenied`` as STS answers: "User: <arn> is not
  authorized to perform: sts:AssumeRole on resource: <role arn>". Within one account moto's permissive
  AssumeRole stays (the emulator does not evaluate identity-based allows).
* Billing is consolidated in the management (payer) account: its Cost Explorer and CUR see every member's
  usage with ``LINKED_ACCOUNT`` / ``line_item_usage_account_id`` set to the member, and cost-allocation tags
  are activated there for the whole organization (Billing user guide, "Consolidated billing": "the
  management account ... pays the charges of all the member accounts"; "only the management account can
  activate cost allocation tags" once an account joined an organization).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

from aipctl_sim.protocol import ServiceError

DEFAULT_ACCESS_ROLE = "OrganizationAccountAccessRole"
_ROLE_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]{1,64})$")


class AccessDenied(ServiceError):
    code, status = "AccessDenied", 403


def _organizations() -> Iterator[Any]:
    """The organizations' backends (their management accounts'), read without creating any."""
    from moto.organizations.models import organizations_backends

    for owner, regions in list(organizations_backends.items()):
        backend = dict.get(regions, "aws")
        if backend is not None and backend.org is not None and backend.org.master_account_id == owner:
            yield backend


def payer(account: str) -> str:
    """The account that pays for ``account``: its organization's management account, or itself. (Read from the
    organizations themselves, which a saved state keeps, not from moto's member index, which it does not.)"""
    for backend in _organizations():
        if any(a.id == account for a in backend.accounts):
            return str(backend.account_id)
    return account


def members(account: str) -> tuple[str, ...]:
    """The accounts whose usage ``account`` is billed for: every active account of its organization when it is
    the management account, else only itself."""
    for backend in _organizations():
        if backend.account_id == account:
            ids = [a.id for a in backend.accounts if getattr(a, "status", "ACTIVE") == "ACTIVE"]
            return tuple(dict.fromkeys([account, *ids]))
    return (account,)


def check_assume_role(caller_account: str, caller_arn: str, body: bytes) -> None:
    """Refuse, as STS does, an AssumeRole into another account whose role is missing or does not trust the caller."""
    params = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    role_arn = params.get("RoleArn", "")
    match = _ROLE_ARN.match(role_arn)
    if match is None or match.group(2) == caller_account:
        return  # moto answers malformed ARNs itself; same-account roles stay permissive
    from moto.iam.models import iam_backends

    denied = AccessDenied(f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}")
    try:
        role = iam_backends[match.group(2)]["aws"].get_role_by_arn(role_arn)
    except Exception:  # moto's NotFoundException: the role does not exist
        raise denied from None
    if not _trusts(role.assume_role_policy_document, caller_account, caller_arn):
        raise denied


def _trusts(document: Any, account: str, arn: str) -> bool:
    try:
        policy = json.loads(document) if isinstance(document, str) else document
    except ValueError:
        return False
    statements = policy.get("Statement", []) if isinstance(policy, dict) else []
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            continue
        principal = statement.get("Principal", {})
        names = principal if principal == "*" else (principal.get("AWS", []) if isinstance(principal, dict) else [])
        names = [names] if isinstance(names, str) else names
        role_arn = re.sub(r":sts::(\d{12}):assumed-role/([^/]+)/.*$", r":iam::\1:role/\2", arn)
        if any(n in ("*", account, f"arn:aws:iam::{account}:root", arn, role_arn) for n in names):
            return True
    return False


def created_account(response: bytes, body: bytes) -> None:
    """After moto's CreateAccount: the member's access role, trusted by the management account."""
    from moto.iam.models import iam_backends

    try:
        status = json.loads(response)["CreateAccountStatus"]
        request = json.loads(body or b"{}")
    except (ValueError, KeyError):
        return
    member = status.get("AccountId")
    if not member:
        return
    role_name = request.get("RoleName") or DEFAULT_ACCESS_ROLE
    management = payer(member)
    iam = iam_backends[member]["aws"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{management}:root"}, "Action": "sts:AssumeRole"}],
    }
    if any(r.name == role_name for r in iam.get_roles()):
        return
    iam.create_role(role_name, json.dumps(trust), "/", None, "Organizations access role", [], None)
    with contextlib.suppress(Exception):  # moto without its AWS managed policies: the role is still trusted
        iam.attach_role_policy("arn:aws:iam::aws:policy/AdministratorAccess", role_name)
