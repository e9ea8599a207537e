"""bedrock-runtime operations the emulator serves (all of those aipctl's users call)."""

from aipctl_sim.runtime import openai, responses

SERVICE = "bedrock-runtime"
SIGNING_NAME = "bedrock"
operations = {
    "Converse": responses.converse,
    "ConverseStream": responses.converse_stream,
    "InvokeModel": responses.invoke_model,
    "InvokeModelWithResponseStream": responses.invoke_model_with_response_stream,
    "CountTokens": responses.count_tokens,
    openai.CHAT: openai.chat_completions,
    openai.RESPONSES: openai.responses,
    openai.MANTLE_CHAT: openai.chat_completions,
    openai.MANTLE_RESPONSES: openai.responses,
    openai.MANTLE_MESSAGES: openai.messages,
}
#: bedrock-mantle's requests are signed for its own service name and served here, under /mantle.
ALSO_SIGNED_AS = ("bedrock-mantle",)
#: The OpenAI-compatible APIs under /openai/v1 (not in botocore's model).
routes = openai.ROUTES
parse_routed = openai.request_params
