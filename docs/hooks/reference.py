"""mkdocs hook: the reference pages' tables, generated from mlgate's code at build time.

A page holds a marker such as ``<!-- mlgate:yaml-files -->``; ``on_page_markdown`` replaces it with
Markdown built from the code that reads those files (the key sets the strict reader checks, the
dataclass and literal defaults, the comments of the shipped examples in mlflow_config/). A marker
whose generator fails stops the build naming the marker, so the docs can never silently drift.

Markers: the keys of GENERATORS at the end of this file.
``python docs/hooks/reference.py MARKER`` prints one table (for checking by eye).
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling modules below, wherever mkdocs runs

from code_reading import ROOT, S, _attr, _cell, _comment_of, _literal_defaults, _module, _show
from yaml_files import settings_vars, yaml_files

MARKER = re.compile(r"<!--\s*mlgate:([\w-]+)\s*-->")

# --- the other tables ------------------------------------------------------------------------------------


def gate_checks() -> str:
    specs = _attr("mlgate.gate.builtin", "BUILTIN_SPECS")
    rows = ["| check | area | passes when | parameters (default) |", "|---|---|---|---|"]
    for spec in specs:
        closure = inspect.getclosurevars(spec.validate).nonlocals
        params = list(closure.get("rules") or {})
        required = set(closure.get("required") or ())
        defaults = _literal_defaults(inspect.getmodule(spec.fn), params)
        shown = []
        for name in params:
            value = "required" if name in required else _show(defaults.get(name)).strip("`")
            shown.append(f"`{name}` ({value})")
        doc = inspect.cleandoc(spec.fn.__doc__ or "").split("\n\n")[0]
        rows.append(f"| `{spec.name}` | {spec.area} | {_cell(doc)} | {', '.join(shown) or '—'} |")
    return "\n".join(rows)


def exceptions() -> str:
    base = _attr("mlgate.exceptions", "MlgateError")
    rows = ["| error | exit code | when |", "|---|---|---|"]

    def walk(cls: type, depth: int) -> None:
        doc = inspect.cleandoc(cls.__doc__ or "").split("\n")[0]
        indent = "&nbsp;&nbsp;&nbsp;&nbsp;" * depth
        rows.append(f"| {indent}`{cls.__name__}` | {cls.exit_code} | {_cell(doc)} |")  # type: ignore[attr-defined]
        for sub in sorted(cls.__subclasses__(), key=lambda c: c.__name__):
            if sub.__module__ == "mlgate.exceptions":  # the one hierarchy; internal subclasses stay internal
                walk(sub, depth + 1)

    walk(base, 0)
    return "\n".join(rows)


_EXIT_MEANING = {
    "EXIT_OK": "passed: the command did what it said (a gate passed, a rollback proven by its smoke test)",
    "EXIT_FAILED": "a known error or a failed gate: one line on stderr says what went wrong and what to do",
    "EXIT_USAGE": "a usage error: unknown option, unreadable argument (click's own usage errors too)",
    "EXIT_BUG": "a bug in mlgate: `mlgate --traceback ...` shows the stack trace to report",
}


def exit_codes() -> str:
    errors = _module("mlgate.cli.errors")
    rows = ["| code | constant | meaning |", "|---|---|---|"]
    for name, value in vars(errors).items():
        if name.startswith("EXIT_") and isinstance(value, int):
            rows.append(f"| `{value}` | `{name}` | {_EXIT_MEANING.get(name, '')} |")
    if "ctx.exit(130)" in inspect.getsource(errors):
        rows.append("| `130` | — | interrupted (Ctrl-C) |")
    return "\n".join(rows)


def registry_keys() -> str:
    module = _module("mlgate.registry.keys")
    source = inspect.getsource(module)
    out: list[str] = ["| constant | key or path | what it holds |", "|---|---|---|"]
    pending: list[str] = []
    tree = {node.lineno: node for node in ast.parse(source).body}
    lines = source.splitlines()
    for number, line in enumerate(lines, start=1):
        header = re.match(r"^# -+ (.+?) -+$", line)
        if header:
            out += ["", f"**{header.group(1)}**", "", "| constant | key or path | what it holds |", "|---|---|---|"]
            pending = []
            continue
        if line.startswith("# "):
            pending.append(line[2:].strip())
            continue
        node = tree.get(number)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            name = node.targets[0].id  # type: ignore[attr-defined]
            comment = " ".join([*pending, _comment_of(line) or ""]).strip()
            out.append(f"| `{name}` | `{node.value.value}` | {_cell(comment)} |")
        elif isinstance(node, ast.FunctionDef):
            fn = getattr(module, node.name)
            arguments = [f"<{p}>" for p in inspect.signature(fn).parameters]
            doc = inspect.cleandoc(fn.__doc__ or "").split("\n\n")[0]
            out.append(f"| `{node.name}()` | `{fn(*arguments)}` | {_cell(doc)} |")
        if line and not line.startswith("#"):
            pending = []
    return "\n".join(out).strip()


def env_vars() -> str:
    found: dict[str, set[str]] = {}
    package = ROOT / "mlgate"
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and re.fullmatch(r"(MLGATE|MLFLOW)_[A-Z0-9_]+", text):
                found.setdefault(text, set()).add(str(path.relative_to(ROOT).with_suffix("")))
    source = inspect.getsource(_module(S))
    for key in _attr(S, "SETTING_KEYS"):
        if re.search(rf'num\(\s*"{key}"', source):
            found.setdefault(f"MLGATE_{key.upper()}", set()).add("mlgate/config/settings")
    rows = ["| variable | read by |", "|---|---|"]
    for var in sorted(found):
        where = ", ".join(f"`{m.replace('/', '.')}`" for m in sorted(found[var]))
        rows.append(f"| `{var}` | {where} |")
    return "\n".join(rows)


def _layers() -> list[list[str]]:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layered = next(c for c in config if c.get("type") == "layers")
    return [[name.strip() for name in layer.split("|")] for layer in layered["layers"]]


def layers() -> str:
    """The import-linter layers of pyproject.toml as a mermaid diagram, top layer first."""
    out = ["```mermaid", "flowchart TB"]
    rows = _layers()
    for i, layer in enumerate(rows):
        out.append(f'  subgraph L{i}["layer {i + 1}"]')
        out.append("    direction LR")
        out += [f"    {name}" for name in layer]
        out.append("  end")
    out += [f"  L{i} --> L{i + 1}" for i in range(len(rows) - 1)]
    out.append("```")
    return "\n".join(out)


def packages() -> str:
    """Every package and top-level module of mlgate with the first paragraph of its docstring and its layer."""
    where = {name: i for i, layer in enumerate(_layers()) for name in layer}
    rows = ["| package | layer | its one job |", "|---|---|---|"]
    entries = sorted(ROOT.joinpath("mlgate").glob("*/__init__.py")) + sorted(ROOT.joinpath("mlgate").glob("*.py"))
    for path in entries:
        name = path.parent.name if path.name == "__init__.py" else path.stem
        if name in ("__init__", "mlgate"):
            continue
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        label = f"`{name}/`" if path.name == "__init__.py" else f"`{name}.py`"
        layer = str(where[name] + 1) if name in where else "—"
        rows.append(f"| {label} | {layer} | {_cell(' '.join(doc.split(chr(10) * 2)[0].split()))} |")
    return "\n".join(rows)


def extras() -> str:
    """The optional extras from mlgate/extras.py (what each enables) and pyproject.toml (what each installs)."""
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    rows = ["| extra | what it enables | installs |", "|---|---|---|"]
    for name, (what, _modules) in _attr("mlgate.extras", "EXTRAS").items():
        packages = ", ".join(f"`{p}`" for p in declared.get(name, []))
        rows.append(f"| `mlgate[{name}]` | {_cell(what)} | {packages} |")
    if "all" in declared:
        rows.append(f"| `mlgate[all]` | every extra above | {', '.join(f'`{p}`' for p in declared['all'])} |")
    return "\n".join(rows)


def mlflow_support() -> str:
    """The supported MLflow range (pyproject.toml) and the releases the matrix tests (ci/constraints-*.txt)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = next(d for d in project["dependencies"] if re.match(r"mlflow\b", d))
    tested = []
    for name, what in (("constraints.txt", "the whole suite, on the repository's pinned set"),
                       ("ci/constraints-oldest.txt", "the oldest supported release (`nox -s oldest`)"),
                       ("ci/constraints-newest.txt", "the newest release (`nox -s newest`)"),
                       ("ci/constraints-core.txt", "the core install, no extras (`nox -s core`)")):  # fmt: skip
        path = ROOT / name
        found = re.search(r"^mlflow==(\S+)", path.read_text(), re.M) if path.is_file() else None
        if found:
            tested.append(f"- MLflow {found.group(1)}: {what}, `{name}`")
    return "\n".join([f"mlgate requires `{required}`. CI tests:", "", *tested, ""])


GENERATORS: dict[str, Callable[[], str]] = {
    "mlflow-support": mlflow_support,
    "extras": extras,
    "layers": layers,
    "packages": packages,
    "yaml-files": yaml_files,
    "settings-vars": settings_vars,
    "gate-checks": gate_checks,
    "exceptions": exceptions,
    "exit-codes": exit_codes,
    "registry-keys": registry_keys,
    "env-vars": env_vars,
}


def _expand(match: re.Match[str]) -> str:
    name = match.group(1)
    if name not in GENERATORS:
        raise KeyError(f"unknown marker <!-- mlgate:{name} -->; known: {', '.join(GENERATORS)}")
    try:
        return GENERATORS[name]()
    except Exception as exc:
        raise RuntimeError(f"docs/hooks/reference.py: generating <!-- mlgate:{name} --> failed: {exc}") from exc


def on_page_markdown(markdown: str, **_: Any) -> str:
    """mkdocs event: replace every marker of the page with its generated Markdown."""
    return MARKER.sub(_expand, markdown)


def on_page_content(html: str, **_: Any) -> str:
    """mkdocs event: mkdocs-click prints click 8.2+'s "no default" sentinel as a default; show a dash instead."""
    return html.replace("<code>Sentinel.UNSET</code>", "—")


if __name__ == "__main__":
    print(GENERATORS[sys.argv[1]]())
