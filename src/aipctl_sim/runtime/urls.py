"""bedrock-runtime operations the emulator serves (all of those aipctl's users call)."""

from aipctl_sim.runtime import responses

SERVICE = "bedrock-runtime"
SIGNING_NAME = "bedrock"
operations = {
    "Converse": responses.converse,
    "ConverseStream": responses.converse_stream,
    "InvokeModel": responses.invoke_model,
    "InvokeModelWithResponseStream": responses.invoke_model_with_response_stream,
    "CountTokens": responses.count_tokens,
}
