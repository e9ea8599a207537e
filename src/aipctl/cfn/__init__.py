"""CloudFormation: render one template per caller and deploy them as stacks."""
