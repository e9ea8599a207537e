"""Service Quotas for Amazon Bedrock: the quotas the emulator enforces, readable and raisable as on AWS."""
