"""Sealed storage of personal data on disk: the encrypted event store, checkpoints and sealed files."""
