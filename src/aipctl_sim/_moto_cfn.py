"""CloudFormation runs as CloudFormation does them: outputs after change sets, failures roll back.

moto 5.2 creates a stack's resources inline and has no error handling there ("TODO: handle execution
errors and implement rollback"): a resource that fails (an AIP name already taken, a quota) made the
request a 500 and left the stack in CREATE_IN_PROGRESS for ever, and ``ExecuteChangeSet`` — what
``aws cloudformation deploy`` uses — never built the stack's outputs. This module (with
``_moto_compat``, the only code that reaches into moto) wraps moto's stack runs:

- every resource gets its events (``CREATE_IN_PROGRESS`` / ``CREATE_COMPLETE`` / ``CREATE_FAILED`` with
  the handler's message, as ``Resource handler returned message: "…" (HandlerErrorCode: AlreadyExists)``);
- a failed create rolls back: the resources made so far are deleted, the stack ends in
  ``ROLLBACK_COMPLETE`` (``ROLLBACK_IN_PROGRESS`` carries "The following resource(s) failed to create:
  [Profile]."); a failed update restores the previous template (``UPDATE_ROLLBACK_COMPLETE``);
- the request itself succeeds (CloudFormation runs stacks asynchronously; the outcome is in the
  stack's status and events, which is where the AWS CLI's waiters and ``deploy`` look);
- outputs are evaluated after the resources exist, for change sets too.

Sources: CloudFormation user guide, "Stack status codes" and "Troubleshooting" (ROLLBACK_COMPLETE after
a failed create, UPDATE_ROLLBACK_COMPLETE after a failed update); the resource-provider handler error
codes of the CloudFormation CLI (``HandlerErrorCode``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

#: Our services' error codes as the CloudFormation resource handler error codes.
HANDLER_CODES = {
    "ConflictException": "AlreadyExists",
    "ValidationException": "InvalidRequest",
    "ResourceNotFoundException": "NotFound",
    "ServiceQuotaExceededException": "ServiceLimitExceeded",
    "AccessDeniedException": "AccessDenied",
    "ThrottlingException": "Throttling",
    "TooManyTagsException": "ServiceLimitExceeded",
}


class ResourceFailed(Exception):
    """A resource of a stack run could not be created or updated."""

    def __init__(self, logical_id: str, resource_type: str, error: Exception) -> None:
        code = str(getattr(error, "code", "") or getattr(error, "error_type", "") or type(error).__name__)
        message = str(getattr(error, "message", "") or error)
        self.logical_id, self.resource_type = logical_id, resource_type
        handler_code = HANDLER_CODES.get(code, "GeneralServiceException")
        self.reason = f'Resource handler returned message: "{message}" (HandlerErrorCode: {handler_code})'
        super().__init__(self.reason)


_installed = False


def install() -> None:
    """Patch moto's stack runs (idempotent; called before the first CloudFormation request: the
    import of moto's CloudFormation takes a second, which other requests should not pay)."""
    global _installed
    if _installed:
        return
    _installed = True
    from moto.cloudformation import models, parsing
    from moto.cloudformation.exceptions import ValidationError

    create_one = parsing.parse_and_create_resource
    update_one = parsing.parse_and_update_resource

    def parse_and_create_resource(logical_id: str, resource_json: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        resources_map = args[0] if args else kwargs.get("resources_map")
        stack = _stack_of(resources_map)
        kind = str(resource_json.get("Type", ""))
        if stack is not None:
            _event(stack, logical_id, kind, "CREATE_IN_PROGRESS")
        try:
            made = create_one(logical_id, resource_json, *args, **kwargs)
        except ResourceFailed:
            raise
        except Exception as exc:
            raise ResourceFailed(logical_id, kind, exc) from exc
        if stack is not None and made is not None:
            _event(stack, logical_id, kind, "CREATE_COMPLETE", physical=str(getattr(made, "physical_resource_id", "")))
        return made

    def parse_and_update_resource(logical_id: str, resource_json: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return update_one(logical_id, resource_json, *args, **kwargs)
        except ResourceFailed:
            raise
        except Exception as exc:
            raise ResourceFailed(logical_id, str(resource_json.get("Type", "")), exc) from exc

    parsing.parse_and_create_resource = parse_and_create_resource
    parsing.parse_and_update_resource = parse_and_update_resource

    stack_class: Any = models.Stack
    backend_class: Any = models.CloudFormationBackend

    def create_resources(stack: Any) -> None:
        stack.status = "CREATE_IN_PROGRESS"
        if run(stack, "CREATE", lambda: stack.resource_map.create(stack.template_dict)):
            stack.description = stack.template_dict.get("Description")

    def update(stack: Any, template: str, role_arn: str | None = None, parameters: Any = None, tags: Any = None) -> None:
        stack._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")
        before = (stack.template, stack.template_dict, stack.resource_map.input_parameters)

        def apply() -> None:
            stack.template = template
            stack._parse_template()
            stack.resource_map.update(stack.template_dict, parameters)

        if run(stack, "UPDATE", apply, restore=lambda: _restore(stack, before)):
            stack.role_arn = role_arn
            if parameters:
                stack.parameters = parameters
            if tags is not None:
                stack.tags = tags

    def execute_change_set(backend: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = backend.change_sets.get(change_set_name) or next(
            (cs for cs in backend.change_sets.values() if cs.change_set_name == change_set_name), None
        )
        if change_set is None:
            raise ValidationError(stack_name)
        stack = backend.stacks[change_set.stack_id]
        kind = change_set.change_set_type
        stack._add_stack_event(f"{kind}_IN_PROGRESS", resource_status_reason="User Initiated")
        before = (stack.template, stack.template_dict, stack.resource_map.input_parameters)

        def apply() -> None:
            stack.template = change_set.template
            stack._parse_template()
            change_set.apply()

        ok = run(stack, kind, apply, restore=lambda: _restore(stack, before))
        change_set.execution_status = "EXECUTE_COMPLETE" if ok else "EXECUTE_FAILED"

    stack_class.create_resources = create_resources
    stack_class.update = update
    backend_class.execute_change_set = execute_change_set


def run(stack: Any, kind: str, apply: Callable[[], Any], restore: Callable[[], None] | None = None) -> bool:
    """Apply a stack change; on a failure roll back and record why. True when it succeeded."""
    try:
        apply()
    except Exception as exc:
        failed = exc if isinstance(exc, ResourceFailed) else None
        if failed is not None:
            _event(stack, failed.logical_id, failed.resource_type, f"{kind}_FAILED", reason=failed.reason)
            why = f"The following resource(s) failed to {kind.lower()}: [{failed.logical_id}]. "
        else:
            why = f"{exc} "
        if kind == "CREATE":
            stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=why + "Rollback requested by user.")
            _delete_made(stack)
            # nothing is left: no resources to list or create lazily, no outputs to evaluate
            stack.resource_map._resource_json_map = {}
            stack.output_map = _NoOutputs()
            stack._add_stack_event("ROLLBACK_COMPLETE")
            stack.status = "ROLLBACK_COMPLETE"
        else:
            stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=why)
            if restore is not None:
                with contextlib.suppress(Exception):
                    restore()
            stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
            stack.status = "UPDATE_ROLLBACK_COMPLETE"
        return False
    stack.output_map = stack._create_output_map()
    stack._add_stack_event(f"{kind}_COMPLETE")
    stack.status = f"{kind}_COMPLETE"
    return True


class _NoOutputs(dict[str, Any]):
    """The outputs of a stack whose create was rolled back."""

    exports: list[Any] = []


def _restore(stack: Any, before: tuple[str, dict[str, Any], dict[str, Any]]) -> None:
    template, template_dict, parameters = before
    stack.resource_map.update(template_dict, parameters)
    stack.template, stack.template_dict = template, template_dict
    stack.output_map = stack._create_output_map()


def _delete_made(stack: Any) -> None:
    """Delete what a failed create made, newest first, with the events CloudFormation shows."""
    resources = stack.resource_map._parsed_resources
    made = [
        (name, value)
        for name, value in list(resources.items())
        if name in stack.resource_map._resource_json_map and not isinstance(value, str) and value is not None
    ]
    for name, resource in reversed(made):
        kind = str(getattr(resource, "cf_resource_type", ""))
        try:
            stack.resource_map._delete_resource(resource, stack.resource_map._resource_json_map[name])
        except Exception as exc:
            _event(stack, name, kind, "DELETE_FAILED", reason=str(exc))
            continue
        resources.pop(name, None)
        _event(stack, name, kind, "DELETE_COMPLETE", physical=str(getattr(resource, "physical_resource_id", "")))


def _stack_of(resources_map: Any) -> Any:
    from moto.cloudformation.models import cloudformation_backends

    if resources_map is None:
        return None
    backend = cloudformation_backends[resources_map._account_id][resources_map._region_name]
    return backend.stacks.get(resources_map.stack_id)


def _event(
    stack: Any, logical_id: str, resource_type: str, status: str, *, reason: str | None = None, physical: str = ""
) -> None:
    from moto.cloudformation.models import Event

    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical_id,
            physical_resource_id=physical,
            resource_type=resource_type,
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=None,
        )
    )
