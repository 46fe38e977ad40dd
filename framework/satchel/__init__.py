"""satchel: on-device personalization for learning apps, with privacy controls."""

from satchel._version import __version__
from satchel.errors import SatchelError
from satchel.hookspecs import hookimpl

__all__ = ["SatchelError", "__version__", "hookimpl"]
