"""Paths as a report names them: relative to the project, never the absolute paths of the machine that wrote it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# an absolute path of two parts or more, not inside a URL or a relative path (what comes before is no
# word character, ':', '/', '.', '~' or '-'); base64 images are left alone (see project_relative)
_ABSOLUTE = re.compile(r"(?<![\w:/.~\-])/[\w.@+\-]+(?:/[\w.@+\-]+)+/?")
_BASE64 = re.compile(r"(data:[\w/+.\-]+;base64,[A-Za-z0-9+/=]+)")


def project_root(settings: Any) -> Path:
    """The project's root: the folder holding mlflow_config/ (the working directory when there is none)."""
    config_dir = getattr(settings, "config_dir", None)
    return Path(config_dir).parent if config_dir is not None else Path.cwd()


def _shorten(match: re.Match[str]) -> str:
    parts = match.group(0).rstrip("/").split("/")
    return "…/" + "/".join(parts[-2:])


def project_relative(text: str, root: Path | None = None) -> str:
    """``text`` with paths under ``root`` made relative to it, the home folder as ``~`` and any other
    absolute path cut to ``…/<parent>/<name>``. Inline base64 images (``data:...;base64,``) are kept as they are."""
    prefixes: list[tuple[str, str]] = []
    if root is not None:
        for form in dict.fromkeys((str(root), str(Path(root).resolve()))):
            if form != "/":
                prefixes.append((form.rstrip("/") + "/", ""))
                prefixes.append((form.rstrip("/"), "."))
    home = str(Path.home())
    if home not in ("/", ""):
        prefixes.append((home.rstrip("/") + "/", "~/"))
    pieces = _BASE64.split(text)
    for i in range(0, len(pieces), 2):  # even pieces: outside the images
        piece = pieces[i]
        for prefix, replacement in sorted(prefixes, key=lambda p: -len(p[0])):
            piece = re.sub(re.escape(prefix) + r"(?![\w.@+\-])" * (not prefix.endswith("/")), replacement, piece)
        pieces[i] = _ABSOLUTE.sub(_shorten, piece)
    return "".join(pieces)
