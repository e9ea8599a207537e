"""The one boundary where botocore's exceptions become aipctl's (see ``aipctl._exceptions``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from aipctl._exceptions import AwsAccessDenied, AwsError, TargetError

_ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException"}


@contextmanager
def aws_call(service: str, operation: str, resource: str | None = None) -> Iterator[None]:
    """Translate botocore failures inside the block into :class:`AwsError` / :class:`TargetError`."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", "")) or code
        where = f" on {resource}" if resource else ""
        text = f"{service}:{operation}{where} failed: {code}: {message}"
        if code in _ACCESS_DENIED:
            raise AwsAccessDenied(
                text,
                service=service,
                operation=operation,
                code=code,
                resource=resource,
                hint="`aipctl iam policy` prints the permissions aipctl needs",
            ) from exc
        raise AwsError(text, service=service, operation=operation, code=code, resource=resource) from exc
    except NoCredentialsError as exc:
        raise TargetError(
            "no AWS credentials found", hint="set AWS_PROFILE or pass --profile, or use the emulator (--target sim)"
        ) from exc
    except EndpointConnectionError as exc:
        raise TargetError(f"cannot reach {exc.kwargs.get('endpoint_url', 'the endpoint')}") from exc
    except BotoCoreError as exc:
        raise TargetError(f"{service}:{operation} failed: {exc}") from exc


def error_code(exc: BaseException) -> str | None:
    return exc.code if isinstance(exc, AwsError) else None
