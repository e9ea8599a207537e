"""Amazon Bedrock API keys sent as ``Authorization: Bearer <key>``.

A short-term key is what ``aws-bedrock-token-generator`` (AWS's library) makes: ``bedrock-api-key-``
followed by the base64 of a SigV4 pre-signed URL of ``bedrock.amazonaws.com/?Action=CallWithBearerToken``
(up to 12 h, for one Region) plus ``&Version=1``. It carries the signer's access key in
``X-Amz-Credential``, so the emulator resolves it to the IAM principal that made it, as Bedrock does
(its calls are billed and logged as that principal). The signature is not checked — the emulator
checks no SigV4 signature — but shape, action, Region and expiry are. A long-term key (an IAM
service-specific credential, ``aipctl_sim.service_credentials``) is its IAM user's, while it is Active and
not expired; it names no Region, so its Region is the request's host (``bedrock-runtime.<region>.amazonaws.com``),
else the ``X-Aipctl-Sim-Region`` header, else ``SimSettings.default_region``.

Sources: the Bedrock user guide, "Use an Amazon Bedrock API key" (api-keys-use) and "Generate a
short-term key" (api-keys-generate); aws-bedrock-token-generator 1.1 (PyPI) for the token format;
Bedrock's answer to a bad key, ``{"Message": "Authentication failed: Please make sure your API Key is
valid."}`` with HTTP 403, as reported in public issues (opencode #47073).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from aipctl_sim import settings

PREFIX = "bedrock-api-key-"
MAX_LIFETIME_S = 12 * 3600
INVALID = "Authentication failed: Please make sure your API Key is valid."


class InvalidApiKey(ValueError):
    """A bearer token Bedrock would refuse (403)."""


@dataclass(frozen=True)
class ApiKey:
    access_key_id: str
    region: str
    expires: dt.datetime
    key_type: str = "SHORT_TERM"  # the value of the bedrock:bearerTokenType condition key


def bearer_token(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def parse(token: str, region: str | None = None) -> ApiKey:
    """The key's principal (access key id), Region and expiry; ``region``: the request's, for long-term keys."""
    from aipctl_sim import service_credentials

    if token.startswith(service_credentials.KEY_PREFIX):
        found = service_credentials.by_secret(token)
        if found is None or found[1].status != "Active":
            raise InvalidApiKey(INVALID)
        long_term = found[1]
        expires = long_term.expires or dt.datetime.max.replace(tzinfo=dt.timezone.utc)
        if settings.settings().live_now() > expires:
            raise InvalidApiKey(INVALID)
        return ApiKey(long_term.key_id, region or settings.settings().default_region, expires, "LONG_TERM")
    if not token.startswith(PREFIX):
        raise InvalidApiKey(INVALID)
    try:
        url = base64.b64decode(token[len(PREFIX) :], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidApiKey(INVALID) from None
    query = parse_qs(urlsplit("https://" + url.removeprefix("https://")).query)

    def one(name: str) -> str:
        values = query.get(name)
        if not values:
            raise InvalidApiKey(INVALID)
        return values[0]

    if one("Action") != "CallWithBearerToken":
        raise InvalidApiKey(INVALID)
    credential = one("X-Amz-Credential").split("/")
    if len(credential) != 5 or credential[3] != "bedrock":
        raise InvalidApiKey(INVALID)
    try:
        signed = dt.datetime.strptime(one("X-Amz-Date"), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
        lifetime = int(one("X-Amz-Expires"))
    except ValueError:
        raise InvalidApiKey(INVALID) from None
    if not 0 < lifetime <= MAX_LIFETIME_S:
        raise InvalidApiKey(INVALID)
    key = ApiKey(credential[0], credential[2], signed + dt.timedelta(seconds=lifetime))
    if settings.settings().live_now() > key.expires:
        raise InvalidApiKey(INVALID)
    return key
