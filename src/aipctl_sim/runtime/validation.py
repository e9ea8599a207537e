"""What Bedrock refuses before a model runs: conversation shape, output-token limits, sampling rules, thinking.

Generic constraints of the API (``temperature`` 0–1, ``maxTokens`` ≥ 1 …) come from botocore's
model and are checked for every operation (``protocol.validate``). This module adds what each
model decides, with the error messages Bedrock sends:

- **Conversation** (Converse): at least one message, the first from the user, roles alternating,
  no message without content ("A conversation must start with a user message …", "A conversation
  must alternate between user and assistant roles …", "The content field in the Message object at
  messages.N is empty …"). Claude Opus 4.6 takes no assistant prefill (the last turn must be the
  user's).
- **Output tokens**: at most the model's maximum output ("The maximum tokens you requested exceeds
  the model limit of N. Try again with a maximum tokens value that is lower than N.").
- **Sampling**: Claude Sonnet 4.5, Sonnet 4.6, Haiku 4.5 and Opus 4.5 refuse ``temperature``
  together with ``top_p`` ("The model returned the following errors: `temperature` and `top_p`
  cannot both be specified for this model. Please use only one.").
- **Extended thinking** (``thinking`` or ``reasoning_config`` ``{"type": "enabled",
  "budget_tokens": N}``): on Claude 3.7 Sonnet and the Claude 4 family; the budget is at least
  1,024 and below ``max_tokens``; ``temperature`` other than 1, ``top_k`` and ``top_p`` are refused
  with it; models without thinking refuse the field.

Sources: Anthropic's model overview (output limits, extended thinking); AWS's own
aws-samples/bedrock-access-gateway (``TEMPERATURE_TOPP_CONFLICT_MODELS``,
``NO_ASSISTANT_PREFILL_MODELS``, the ``reasoning_config`` field); error texts as Bedrock returns
them in public issue reports (LiteLLM #15070, dify #10390). Nova v1's output limit is given as
5K on its model card and 10K in AWS's Nova 2 migration post: 10K is used here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aipctl_sim.protocol import ValidationException


@dataclass(frozen=True)
class ModelRules:
    max_output: int
    exclusive_sampling: bool = False  # temperature xor top_p
    thinking: bool = False
    prefill: bool = True


RULES: dict[str, ModelRules] = {
    "anthropic.claude-sonnet-4-6": ModelRules(64_000, exclusive_sampling=True, thinking=True),
    "anthropic.claude-opus-4-6-v1": ModelRules(128_000, thinking=True, prefill=False),
    "anthropic.claude-sonnet-4-5-20250929-v1:0": ModelRules(64_000, exclusive_sampling=True, thinking=True),
    "anthropic.claude-haiku-4-5-20251001-v1:0": ModelRules(64_000, exclusive_sampling=True, thinking=True),
    "anthropic.claude-opus-4-5-20251101-v1:0": ModelRules(64_000, exclusive_sampling=True, thinking=True),
    "anthropic.claude-opus-4-1-20250805-v1:0": ModelRules(32_000, thinking=True),
    "anthropic.claude-sonnet-4-20250514-v1:0": ModelRules(64_000, thinking=True),
    "anthropic.claude-3-7-sonnet-20250219-v1:0": ModelRules(64_000, thinking=True),
    "anthropic.claude-3-5-haiku-20241022-v1:0": ModelRules(8_192),
    "amazon.nova-micro-v1:0": ModelRules(10_000),
    "amazon.nova-lite-v1:0": ModelRules(10_000),
    "amazon.nova-pro-v1:0": ModelRules(10_000),
    "amazon.nova-premier-v1:0": ModelRules(32_000),
    "amazon.nova-2-lite-v1:0": ModelRules(65_536),
}
MIN_THINKING_BUDGET = 1024
#: CountTokens on bedrock-runtime ("Monitor your token usage by counting tokens before running
#: inference", Amazon Bedrock user guide): a foundation model's id or ARN, never an inference
#: profile, and only these models; Claude models launched cross-Region only are counted on the
#: bedrock-mantle endpoint instead.
COUNT_TOKENS_MODELS = frozenset(
    {
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        "anthropic.claude-3-7-sonnet-20250219-v1:0",
        "anthropic.claude-sonnet-4-20250514-v1:0",
    }
)


def rules_for(model_id: str) -> ModelRules:
    return RULES.get(model_id, ModelRules(4_096))


def model_error(message: str) -> ValidationException:
    return ValidationException(f"The model returned the following errors: {message}")


def check_conversation(messages: Sequence[Mapping[str, Any]], model_id: str) -> None:
    """Converse's rules for ``messages`` (InvokeModel bodies are checked by each family's parser)."""
    if not messages or messages[0].get("role") != "user":
        raise ValidationException(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message."
        )
    for index, message in enumerate(messages):
        if index and message.get("role") == messages[index - 1].get("role"):
            raise ValidationException(
                "A conversation must alternate between user and assistant roles. Make sure the conversation alternates "
                "between user and assistant roles and try again."
            )
        if not message.get("content"):
            raise ValidationException(
                f"The content field in the Message object at messages.{index} is empty. Add a ContentBlock object to the "
                "content field and try again."
            )
    if messages[-1].get("role") == "assistant" and not rules_for(model_id).prefill:
        raise model_error("This model does not support assistant message prefill. The conversation must end with a user message.")


def check_generation(
    model_id: str,
    *,
    max_tokens: int | None,
    temperature: float | None,
    top_p: float | None,
    top_k: int | None = None,
    thinking: Mapping[str, Any] | None = None,
) -> int:
    """Output-token limit, sampling and thinking rules; returns the thinking budget (0 without thinking)."""
    rules = rules_for(model_id)
    if max_tokens is not None and max_tokens > rules.max_output:
        raise ValidationException(
            f"The maximum tokens you requested exceeds the model limit of {rules.max_output}. "
            f"Try again with a maximum tokens value that is lower than {rules.max_output}."
        )
    if rules.exclusive_sampling and temperature is not None and top_p is not None:
        raise model_error("`temperature` and `top_p` cannot both be specified for this model. Please use only one.")
    if not thinking or thinking.get("type") != "enabled":
        return 0
    if not rules.thinking:
        raise model_error("thinking: Extra inputs are not permitted")
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget < MIN_THINKING_BUDGET:
        raise model_error(f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_THINKING_BUDGET}")
    if max_tokens is not None and budget >= max_tokens:
        raise model_error("`max_tokens` must be greater than `thinking.budget_tokens`.")
    if temperature is not None and temperature != 1:
        raise model_error("`temperature` may only be set to 1 when thinking is enabled.")
    if top_k is not None:
        raise model_error("`top_k` is not supported when thinking is enabled.")
    if top_p is not None:
        raise model_error("`top_p` is not supported when thinking is enabled.")
    return budget


def thinking_of(fields: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The extended-thinking request in Converse's ``additionalModelRequestFields`` or an Anthropic body."""
    if not fields:
        return None
    found = fields.get("thinking") or fields.get("reasoning_config")
    return found if isinstance(found, Mapping) else None


def check_count_tokens(model_id: str, through_profile: bool) -> None:
    if through_profile or model_id not in COUNT_TOKENS_MODELS:
        raise ValidationException("The provided model doesn't support counting tokens.")
