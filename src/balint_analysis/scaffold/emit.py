"""Write a config as YAML with a comment beside each guess (PyYAML would drop the comments)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

__all__ = ["Commented", "emit"]


class Commented:
    """A value with the comment written beside it (its evidence, or what to choose)."""

    def __init__(self, value: Any, comment: str = "") -> None:
        self.value = value
        self.comment = comment


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6)
    return text.removesuffix("\n...\n").strip()


def _comment(text: str) -> str:
    return f"  # {' '.join(text.split())}" if text else ""


def _nested(value: Any) -> bool:
    """A value written as an indented block (a non-empty mapping, a list of mappings)."""
    if isinstance(value, Mapping):
        return bool(value)
    return isinstance(value, list) and any(isinstance(v, Mapping | Commented) for v in value)


def _lines(node: Any, indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    if isinstance(node, Mapping):
        for key, raw in node.items():
            value, note = (raw.value, raw.comment) if isinstance(raw, Commented) else (raw, "")
            label = f"{pad}{_scalar(key)}:"
            if _nested(value):
                out.append(label + _comment(note))
                out += _lines(value, indent + 2)
            else:
                out.append(f"{label} {_scalar(value)}{_comment(note)}")
    elif isinstance(node, list):
        for raw in node:
            value, note = (raw.value, raw.comment) if isinstance(raw, Commented) else (raw, "")
            if isinstance(value, Mapping):
                inner = _lines(value, indent + 2)
                first = inner[0].lstrip()
                out.append(f"{pad}- {first}")
                out += inner[1:]
                if note:
                    out[-len(inner)] += _comment(note)
            else:
                out.append(f"{pad}- {_scalar(value)}{_comment(note)}")
    return out


def emit(config: Mapping[str, Any], header: list[str]) -> str:
    """YAML text of ``config`` (mappings, lists, scalars, :class:`Commented` values)."""
    lines = [f"# {h}" if h else "#" for h in header]
    for key, value in config.items():
        lines.append("")
        lines += _lines({key: value}, 0)
    return "\n".join(lines) + "\n"
