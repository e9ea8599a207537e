"""Operations of the ``bedrock`` API the emulator serves itself; moto serves the others."""

from aipctl_sim.bedrock import responses

SERVICE = "bedrock"
SIGNING_NAME = "bedrock"
operations = {
    "CreateInferenceProfile": responses.create_inference_profile,
    "GetInferenceProfile": responses.get_inference_profile,
    "ListInferenceProfiles": responses.list_inference_profiles,
    "DeleteInferenceProfile": responses.delete_inference_profile,
    "TagResource": responses.tag_resource,
    "UntagResource": responses.untag_resource,
    "ListTagsForResource": responses.list_tags_for_resource,
    "ListFoundationModels": responses.list_foundation_models,
    "GetFoundationModel": responses.get_foundation_model,
    "PutModelInvocationLoggingConfiguration": responses.put_model_invocation_logging_configuration,
    "CreateModelInvocationJob": responses.create_model_invocation_job,
    "GetModelInvocationJob": responses.get_model_invocation_job,
    "ListModelInvocationJobs": responses.list_model_invocation_jobs,
    "StopModelInvocationJob": responses.stop_model_invocation_job,
}
claims = responses.is_ours
