"""Credential providers: each source a small object that says whether it has credentials."""
