"""Check JSON against the schemas of the gmail.v1 discovery document.

Used by the emulator's tests so its answers cannot drift from the real API:
every property must be known to the schema, types must match, 64-bit
integers must be decimal strings (uint64 within 0..2**64-1), ``byte`` fields
base64, enum values listed, and the fields a caller relies on present.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_BASE64 = re.compile(r"^[A-Za-z0-9+/_\-]*={0,2}$")
_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}

# Fields Gmail always returns in these resources (the discovery document
# marks none as required for responses).
RESPONSE_REQUIRED = {
    "Message": ("id", "threadId"),
    "Label": ("id", "name", "type"),
    "Profile": ("emailAddress", "historyId", "messagesTotal", "threadsTotal"),
    "ListHistoryResponse": ("historyId",),
    "ListMessagesResponse": ("resultSizeEstimate",),
    "ListThreadsResponse": ("resultSizeEstimate",),
    "ListLabelsResponse": ("labels",),
    "History": ("id",),
    "WatchResponse": ("historyId", "expiration"),
    "Thread": ("id",),
    "MessagePartHeader": ("name", "value"),
}


def load_discovery() -> dict[str, Any]:
    import googleapiclient

    path = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "gmail.v1.json"
    return json.loads(path.read_text(encoding="utf-8"))


def methods_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    def walk(resources: dict[str, Any]) -> None:
        for resource in resources.values():
            for method in resource.get("methods", {}).values():
                found[method["id"]] = method
            walk(resource.get("resources", {}))

    walk(doc["resources"])
    return found


def validate(doc: dict[str, Any], schema_name: str, instance: Any) -> list[str]:
    """Problems of ``instance`` as a ``schema_name`` (empty when it conforms)."""
    problems: list[str] = []
    _check(doc, {"$ref": schema_name}, instance, schema_name, problems)
    return problems


def _check(doc: dict, schema: dict, value: Any, where: str, problems: list[str]) -> None:
    if "$ref" in schema:
        name = schema["$ref"]
        resolved = doc["schemas"][name]
        _check(doc, resolved, value, where, problems)
        if isinstance(value, dict):
            for field in RESPONSE_REQUIRED.get(name, ()):
                if field not in value:
                    problems.append(f"{where}: required field {field!r} of {name} missing")
        return
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            problems.append(f"{where}: expected object, got {type(value).__name__}")
            return
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                _check(doc, properties[key], item, f"{where}.{key}", problems)
            elif extra is not None:
                _check(doc, extra, item, f"{where}.{key}", problems)
            else:
                problems.append(f"{where}: unknown property {key!r}")
    elif kind == "array":
        if not isinstance(value, list):
            problems.append(f"{where}: expected array, got {type(value).__name__}")
            return
        for index, item in enumerate(value):
            _check(doc, schema.get("items", {}), item, f"{where}[{index}]", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{where}: expected string, got {type(value).__name__} {value!r}")
            return
        fmt = schema.get("format")
        if fmt in ("int64", "uint64"):
            if not re.fullmatch(r"-?\d+", value):
                problems.append(f"{where}: {fmt} must be a decimal string, got {value!r}")
            else:
                low, high = _RANGES[fmt]
                if not low <= int(value) <= high:
                    problems.append(f"{where}: {value} out of {fmt} range")
        elif fmt == "byte" and not _BASE64.match(value):
            problems.append(f"{where}: byte field is not base64")
        if "enum" in schema and value not in schema["enum"]:
            problems.append(f"{where}: {value!r} not in {schema['enum']}")
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{where}: expected integer, got {type(value).__name__} {value!r}")
            return
        fmt = schema.get("format")
        if fmt in _RANGES:
            low, high = _RANGES[fmt]
            if not low <= value <= high:
                problems.append(f"{where}: {value} out of {fmt} range")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{where}: expected boolean, got {type(value).__name__}")
    elif kind == "number":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"{where}: expected number, got {type(value).__name__}")


def google_error_problems(body: Any, status: int) -> list[str]:
    """Problems of a Google JSON error body (``{"error": {code, message, errors, status}}``)."""
    problems = []
    if not isinstance(body, dict) or set(body) != {"error"}:
        return [f"error body must be {{'error': ...}}, got {body!r}"]
    error = body["error"]
    if error.get("code") != status:
        problems.append(f"error.code {error.get('code')} != HTTP {status}")
    if not isinstance(error.get("message"), str) or not error["message"]:
        problems.append("error.message missing")
    if not isinstance(error.get("status"), str) or not error["status"].isupper():
        problems.append("error.status missing (e.g. NOT_FOUND)")
    details = error.get("errors")
    if not isinstance(details, list) or not details:
        problems.append("error.errors missing")
    else:
        for detail in details:
            for key in ("message", "domain", "reason"):
                if not isinstance(detail.get(key), str):
                    problems.append(f"error.errors[].{key} missing")
    return problems
