"""Parley's framework-free helpers: secret tokens and encryption at rest."""
