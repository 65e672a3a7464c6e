"""fhir.resources across its pydantic 1 (6.x: parse_obj/json) and pydantic 2 (7+:
model_validate/model_dump_json) releases: the API validates every resource with it."""

from __future__ import annotations

import json
from typing import Any


def validated(model: Any, data: dict[str, Any]) -> dict[str, Any]:
    """`data` checked against the FHIR model (raises its ValidationError), as plain JSON."""
    if hasattr(model, "model_validate"):
        resource = model.model_validate(data)
        return json.loads(resource.model_dump_json(exclude_none=True))
    resource = model.parse_obj(data)
    return json.loads(resource.json(exclude_none=True))


def validation_errors(exc: Exception) -> list[str]:
    """The model's complaints as 'path: message' lines."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        out = []
        for error in errors():
            where = ".".join(str(p) for p in error.get("loc", ()))
            out.append(f"{where}: {error.get('msg', '')}".strip(": "))
        return out or [str(exc)]
    return [str(exc)]


def as_json(resource: Any) -> dict[str, Any]:
    """A built model as plain JSON."""
    if hasattr(resource, "model_dump_json"):
        return json.loads(resource.model_dump_json(exclude_none=True))
    return json.loads(resource.json(exclude_none=True))
