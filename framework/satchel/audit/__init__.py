"""Auditing: the hash-chained audit log and the privacy report behind ``satchel audit``."""
