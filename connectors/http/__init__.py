"""Shared HTTP plumbing for connectors: client, auth, paging, retries, rate limits, redaction."""
