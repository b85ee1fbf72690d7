"""The review-case domain: model, lifecycle rules and use cases. No boto3, no HTTP, no HL7 here."""
