"""Bedrock error types as the service returns them."""

from aipctl_sim.protocol import (
    ConflictException,
    ResourceNotFoundException,
    ServiceError,
    ValidationException,
)


class TooManyTagsException(ServiceError):
    code, status = "TooManyTagsException", 400


class ServiceQuotaExceededException(ServiceError):
    code, status = "ServiceQuotaExceededException", 400


__all__ = [
    "ConflictException",
    "ResourceNotFoundException",
    "ServiceQuotaExceededException",
    "TooManyTagsException",
    "ValidationException",
]
