"""The JSON Schema of satchel's JSONL event format (``satchel events schema``).

One event per line: ``type`` (a registered event type), ``time`` (ISO 8601 with a UTC offset),
``data`` (that type's payload), optional ``id`` (re-importing the same id stores it once) and
``subject`` (the learner; may be left out when ``satchel ingest --subject`` names them).
"""

from __future__ import annotations

from typing import Any

from satchel.events import EARLIEST, LATEST
from satchel.plugin.registry import Registry

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def event_line_schema(registry: Registry) -> dict[str, Any]:
    """A schema for one JSONL line, with each registered event type's payload."""
    defs: dict[str, Any] = {}
    branches: list[dict[str, Any]] = []
    for name, reg in sorted(registry.all("event_type").items()):
        payload = reg.spec.payload.model_json_schema(ref_template=f"#/$defs/{name}.{{model}}")
        defs.update({f"{name}.{key}": value for key, value in payload.pop("$defs", {}).items()})
        defs[name] = {
            **payload,
            "description": reg.spec.description or payload.get("description", ""),
            "x-data-categories": list(reg.spec.categories),
            "x-plugin": reg.origin.describe(),
        }
        branches.append(
            {
                "if": {"properties": {"type": {"const": name}}},
                "then": {"properties": {"data": {"$ref": f"#/$defs/{name}"}}},
            }
        )
    return {
        "$schema": DIALECT,
        "title": "satchel event (one JSON object per line of a .jsonl file)",
        "type": "object",
        "required": ["type", "time"],
        "additionalProperties": False,
        "properties": {
            "subject": {
                "type": "string",
                "minLength": 1,
                "maxLength": 256,
                "description": "the learner's id; optional when `satchel ingest --subject` names them",
            },
            "type": {
                "enum": sorted(d for d in defs if "." not in d),
                "description": "a registered event type",
            },
            "time": {
                "type": "string",
                "format": "date-time",
                "description": f"ISO 8601 with a UTC offset, between {EARLIEST:%Y-%m-%d} and "
                f"{LATEST:%Y-%m-%d}",
            },
            "data": {
                "type": "object",
                "default": {},
                "description": "the payload: strings, finite numbers (integers within ±2**53), booleans, null",
            },
            "id": {
                "type": "string",
                "minLength": 1,
                "maxLength": 128,
                "description": "stable id: importing the same id again stores the event once",
            },
        },
        "allOf": branches,
        "$defs": defs,
    }
