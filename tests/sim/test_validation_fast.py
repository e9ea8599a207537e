"""The emulator's compiled request check (aipctl_sim.protocol._valid) accepts exactly what its validation walk accepts.

Inputs are botocore's own skeletons of every operation of the services aipctl calls most, each also broken
one member at a time (missing, empty, too long, negative, huge, of the wrong type)."""

from __future__ import annotations

import copy
from typing import Any

import botocore.session
import pytest
from botocore.utils import ArgumentGenerator

from aipctl_sim.protocol import _valid, _validate_structure

SERVICES = ("bedrock", "bedrock-runtime", "cloudwatch", "ce", "budgets", "cloudtrail", "logs")


def _walk_accepts(shape: Any, params: Any) -> bool:
    errors: list[str] = []
    _validate_structure(shape, params, "", errors)
    return not errors


def _variants(params: dict[str, Any]) -> list[dict[str, Any]]:
    out = [params]
    for name, value in params.items():
        for broken in (None, "", "x" * 5000, -1, 10**12, True, [], {"unexpected": 1}):
            if broken is value:
                continue
            changed = copy.deepcopy(params)
            changed[name] = broken
            out.append(changed)
        changed = copy.deepcopy(params)
        del changed[name]
        out.append(changed)
    return out


@pytest.mark.parametrize("service", SERVICES)
def test_compiled_check_agrees_with_the_walk_on_every_operation(service: str) -> None:
    model = botocore.session.get_session().get_service_model(service)
    generator = ArgumentGenerator(use_member_names=True)
    compared = rejected = 0
    for name in model.operation_names:
        shape = model.operation_model(name).input_shape
        if shape is None:
            continue
        for params in _variants(generator.generate_skeleton(shape)):
            try:
                walk = _walk_accepts(shape, params)
            except (TypeError, AttributeError):
                continue  # a value the walk itself cannot read (e.g. a number where a list belongs): no verdict to match
            assert _valid(shape)(params) is walk, (service, name, params)
            compared += 1
            rejected += not walk
    assert compared > 0 and rejected > 0  # both verdicts were exercised
