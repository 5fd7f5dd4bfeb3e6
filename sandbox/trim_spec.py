"""Regenerate ``sandbox/botapi.json`` from the full machine-readable Bot API description.

The full description (``../shared/telegram/botapi.json``) is close to a megabyte, mostly prose. The
sandbox only needs names, field types, which fields are required and what each method returns (to
check the sandbox's own answers), plus two things the prose encodes that a validator cannot do
without: which abstract types have which concrete subtypes, and the constant discriminator (``type``,
``status``, ``source``) each subtype must carry. Keeping the trimmed copy in the repository lets the
tests run on a fresh checkout without the shared folder.

Usage: ``python -m sandbox.trim_spec [SOURCE] [TARGET]``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "telegram" / "botapi.json"
DEFAULT_TARGET = Path(__file__).resolve().parent / "botapi.json"

_DISCRIMINATOR_FIELDS = frozenset({"type", "status", "source"})
_CONSTANT = re.compile(r"(?:must be|always) [\"“]?([A-Za-z_]+)[\"”]?\s*$")


def _trim_field(field: dict[str, Any], *, is_subtype: bool) -> dict[str, Any]:
    trimmed: dict[str, Any] = {
        "name": field["name"],
        "types": list(field["types"]),
        "required": bool(field["required"]),
    }
    if is_subtype and field["name"] in _DISCRIMINATOR_FIELDS:
        match = _CONSTANT.search(field.get("description", ""))
        if match:
            trimmed["const"] = match.group(1)
    return trimmed


def trim(spec: dict[str, Any]) -> dict[str, Any]:
    """Return the subset of the Bot API description that the sandbox validator reads."""
    methods = {
        name: {
            "name": method["name"],
            "fields": [_trim_field(f, is_subtype=False) for f in method.get("fields", [])],
            "returns": list(method.get("returns", [])),
        }
        for name, method in spec["methods"].items()
    }
    types: dict[str, Any] = {}
    for name, type_ in spec["types"].items():
        is_subtype = bool(type_.get("subtype_of"))
        entry: dict[str, Any] = {
            "name": type_["name"],
            "fields": [_trim_field(f, is_subtype=is_subtype) for f in type_.get("fields", [])],
        }
        if type_.get("subtypes"):
            entry["subtypes"] = list(type_["subtypes"])
        types[name] = entry
    return {"version": spec["version"], "methods": methods, "types": types}


def main(argv: list[str] | None = None) -> int:
    """Read the full description, write the trimmed one (compact, one type or method per line)."""
    args = sys.argv[1:] if argv is None else argv
    source = Path(args[0]) if args else DEFAULT_SOURCE
    target = Path(args[1]) if len(args) > 1 else DEFAULT_TARGET
    trimmed = trim(json.loads(source.read_text(encoding="utf-8")))
    lines = ['{"version": ' + json.dumps(trimmed["version"]) + ","]
    for section in ("methods", "types"):
        items = list(trimmed[section].items())
        lines.append(f'"{section}": {{')
        for index, (name, value) in enumerate(items):
            comma = "," if index < len(items) - 1 else ""
            lines.append(f"{json.dumps(name)}: {json.dumps(value, ensure_ascii=False)}{comma}")
        lines.append("}," if section == "methods" else "}")
    lines.append("}")
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
