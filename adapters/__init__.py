"""The edges: DynamoDB store, S3 archive, partner registry (and later the HL7 v2 wire)."""
