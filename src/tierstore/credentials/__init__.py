"""Credentials: providers, the chain that orders them, STS sessions and refresh."""
