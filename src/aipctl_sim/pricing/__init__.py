"""The AWS Price List Service (``pricing``) for Amazon Bedrock, served from the emulator's own rates."""
