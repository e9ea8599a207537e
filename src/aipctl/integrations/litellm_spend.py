"""A LiteLLM proxy spend callback: one JSON line per call with the caller, the model and LiteLLM's cost.

Enabled by ``aipctl wire --format litellm --spend-callback`` (``litellm_settings.callbacks``; aipctl
must be installed where the proxy runs). Lines go to ``$AIPCTL_LITELLM_SPEND_LOG``
(default ``aipctl-litellm-spend.jsonl`` in the proxy's working directory).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

_lock = threading.Lock()


def _find(mapping: Any, key: str) -> Any:
    """The first value of ``key`` anywhere in nested dicts (LiteLLM moves metadata between versions)."""
    if isinstance(mapping, dict):
        if key in mapping:
            return mapping[key]
        for value in mapping.values():
            found = _find(value, key)
            if found is not None:
                return found
    return None


class SpendLogger(CustomLogger):
    def _write(self, kwargs: dict[str, Any]) -> None:
        standard = kwargs.get("standard_logging_object") or {}
        line = {
            "caller": _find(kwargs.get("litellm_params") or {}, "aipctl_caller") or _find(standard, "aipctl_caller"),
            "model": kwargs.get("model") or standard.get("model"),
            "model_group": standard.get("model_group"),
            "response_cost": kwargs.get("response_cost", standard.get("response_cost")),
            "prompt_tokens": standard.get("prompt_tokens"),
            "completion_tokens": standard.get("completion_tokens"),
        }
        path = os.environ.get("AIPCTL_LITELLM_SPEND_LOG", "aipctl-litellm-spend.jsonl")
        with _lock, open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")

    def log_success_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._write(kwargs)

    async def async_log_success_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._write(kwargs)


spend_logger = SpendLogger()
