"""Reading mlgate's code for the docs: modules, constants, literal defaults, comments of examples and dataclasses."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import itertools
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "mlflow_config"
REQUIRED = object()  # shown as **required**
S = "mlgate.config.settings"


def _module(name: str) -> Any:
    return importlib.import_module(name)


def _attr(module: str, name: str) -> Any:
    mod = _module(module)
    if not hasattr(mod, name):
        raise LookupError(f"{module}.{name} does not exist any more: update docs/hooks/reference.py")
    return getattr(mod, name)


def _comment_of(line: str) -> str | None:
    """The trailing ``# comment`` of a YAML or Python line (quotes respected), or None."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#" and i > 0 and line[i - 1] in " \t":
            text = line[i + 1 :].strip()
            return text or None
    return None


def _yaml_comments(*texts: str, top: bool = False) -> dict[str, str]:
    """key -> the comment on the line that sets it in example YAML (commented-out lines too).

    With ``top``, only the least indented keys of each text count (a top-level ``stages:`` is not an
    approval check's ``stages:``); otherwise deeper keys are preferred and top-level ones fill in.
    """
    deep: dict[str, str] = {}
    shallow: dict[str, str] = {}
    for text in texts:
        found = []
        for raw in text.splitlines():
            line = raw.rstrip()
            if line.lstrip().startswith("#"):
                line = line.lstrip()[1:]
                line = line[1:] if line.startswith(" ") else line
            match = re.match(r"^(\s*)-?\s*([\w.-]+):", line)
            comment = _comment_of(" " + line.strip()) if match else None
            if match and comment:
                found.append((len(match.group(1)), match.group(2), comment))
        base = min((indent for indent, _, _ in found), default=0)
        for indent, key, comment in found:
            (shallow if indent == base else deep).setdefault(key, comment)
    if top:
        return shallow
    return {**shallow, **deep}


def _field_comments(cls: type) -> dict[str, str]:
    """field -> the comment on its line in a dataclass's source."""
    found = {}
    for line in inspect.getsource(cls).splitlines():
        match = re.match(r"^\s+(\w+)\s*:", line)
        comment = _comment_of(line)
        if match and comment:
            found[match.group(1)] = comment
    return found


_DEFAULT_TAKERS = {"get", "num", "_number", "number"}  # called as (key, default) or (data, key, default)


def _literal_defaults(module: Any, keys: Iterable[str]) -> dict[str, Any]:
    """key -> the default the module's code falls back to: ``x.get("key", 3)``, ``num("key", 3.0)``, a constant."""
    wanted, found = set(keys), {}
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name not in _DEFAULT_TAKERS:
            continue
        args = node.args
        for first, second in itertools.pairwise(args):
            if not (isinstance(first, ast.Constant) and first.value in wanted and first.value not in found):
                continue
            if isinstance(second, ast.Name) and isinstance(getattr(module, second.id, None), int | float | str):
                found[first.value] = getattr(module, second.id)
                continue
            try:
                found[first.value] = ast.literal_eval(second)
            except ValueError:
                continue
    return found


def _show(value: Any) -> str:
    if value is REQUIRED:
        return "**required**"
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, tuple | list):
        return "`[" + ", ".join(_show(v).strip("`") for v in value) + "]`"
    if dataclasses.is_dataclass(value):
        return "see below"
    return f"`{value}`"


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")
