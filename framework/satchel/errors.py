"""One error hierarchy. Every message says what went wrong, where, and how to fix it."""

from __future__ import annotations


class SatchelError(Exception):
    """Root of every error satchel raises on purpose.

    ``hint`` tells the reader how to fix the problem; it is appended to ``str(error)``.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message}; {hint}" if hint else message)


class ConfigError(SatchelError):
    """A configuration file or value is invalid. ``problems`` lists each (dotted path, message)."""

    def __init__(self, problems: list[tuple[str, str]], *, source: str | None = None) -> None:
        self.problems = tuple(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = [f"{path}: {msg}" if path else msg for path, msg in self.problems]
        head = f"{len(lines)} configuration problem{'s' if len(lines) != 1 else ''}{where}"
        super().__init__(head + ":\n  " + "\n  ".join(lines))


class PluginError(SatchelError):
    """A plugin is broken, conflicts with another, or could not be found."""


class EventError(SatchelError):
    """An event (or an import file) is malformed. Nothing from the offending batch is stored."""


class ConsentError(SatchelError):
    """The consent gate refused an operation; nothing was processed or stored. ``missing`` names the
    purposes a grant would have to cover (empty when the refusal is about something else)."""

    def __init__(self, message: str, *, hint: str | None = None, missing: tuple[str, ...] = ()) -> None:
        self.missing = missing
        super().__init__(message, hint=hint)


class PrivacyError(SatchelError):
    """A privacy rule would be broken (e.g. an insecure key provider without opt-in)."""


class KeyUnavailableError(PrivacyError):
    """No usable key: the provider is missing, locked, or the key is wrong or retired."""


class IntegrityError(PrivacyError):
    """Stored data failed authentication: tampered, truncated, swapped, or rolled back."""


class ErasedError(PrivacyError):
    """The subject's data was erased (crypto-shredded); it can no longer be read."""


class BackendError(SatchelError):
    """A training backend failed to compile, load, train, or predict."""


class ShapeError(BackendError, ValueError):
    """Input arrays have the wrong shape or dtype for a model."""


class SchedulerError(SatchelError):
    """Training could not be scheduled or run (lock held, budget exceeded, ...)."""
