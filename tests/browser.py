"""Open an HTML report in headless Chromium and report what is visible (shared by the monitor and gate report tests).

    from tests.browser import require_chromium, render_check
    chromium = require_chromium()                  # skips the test with "apt-get install chromium" when missing
    seen = render_check(path, ["h1", ".check", "figure", "img"], chromium)
    assert seen["img"]["count"] == seen["img"]["visible"] > 0

The page is copied with a small script appended that, after load, measures every element
matching each selector (non-zero box, not display:none / visibility:hidden / zero opacity;
images also decoded with a natural width) and writes the counts into the DOM, which
Chromium prints with --dump-dom. The report itself is not changed.

    save_docs_screenshot(page, "gate-report", chromium)   # only with DOCS_SCREENSHOTS_DIR=<folder>

writes what Chromium draws of the page as <folder>/gate-report.png (`make docs-screenshots`: the
screenshots of the docs site are real renderings of the reports the tests make).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
_MARK = "mlgate-render-check"
_SCRIPT = """
<script>
window.addEventListener('load', function () {
  var selectors = %s, out = {};
  selectors.forEach(function (sel) {
    var nodes = Array.prototype.slice.call(document.querySelectorAll(sel)), visible = 0, hidden = [];
    nodes.forEach(function (el) {
      var r = el.getBoundingClientRect(), s = getComputedStyle(el);
      var ok = r.width > 0 && r.height > 0 && s.display !== 'none' && s.visibility !== 'hidden' && s.opacity !== '0';
      if (el.tagName === 'IMG') { ok = ok && el.complete && el.naturalWidth > 0; }
      if (el.tagName === 'svg' || el.tagName === 'SVG') { ok = ok && el.childElementCount > 0; }
      var label = (el.getAttribute('alt') || el.textContent || el.tagName).slice(0, 80);
      if (ok) { visible += 1; } else { hidden.push(label); }
    });
    out[sel] = {count: nodes.length, visible: visible, hidden: hidden};
  });
  var pre = document.createElement('pre'); pre.id = '%s'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def chromium_path() -> str | None:
    """Debian's chromium if installed (or one on PATH)."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    """The chromium binary, or skip the calling test saying how to install it."""
    path = chromium_path()
    if path is None:
        pytest.skip("headless Chromium is not installed: apt-get install chromium (CI's .ci/run does it)")
    return path


def dump_dom(page: str | Path, chromium: str | None = None, timeout: float = 60.0) -> str:
    """The DOM of ``page`` after load, as Chromium serialises it (fresh profile, no network services)."""
    binary = chromium or require_chromium()
    with tempfile.TemporaryDirectory(prefix="mlgate-chromium-") as profile:
        command = [binary, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom",
                   Path(page).resolve().as_uri()]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0 or "<html" not in done.stdout.lower():
        raise AssertionError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def render_check(page: str | Path, selectors: list[str], chromium: str | None = None) -> dict[str, dict[str, Any]]:
    """For each CSS selector: how many elements match, how many are visible, and which are not."""
    source = Path(page).read_text()
    probe = _SCRIPT % (json.dumps(selectors), _MARK)
    with tempfile.TemporaryDirectory(prefix="mlgate-render-") as tmp:
        copy = Path(tmp) / Path(page).name
        index = source.lower().rfind("</body>")
        copy.write_text(source[:index] + probe + source[index:] if index >= 0 else source + probe)
        dom = dump_dom(copy, chromium)
    match = re.search(rf'<pre id="{_MARK}">(.*?)</pre>', dom, re.S)
    if match is None:
        raise AssertionError("the render check did not run: the page never finished loading")
    result: dict[str, dict[str, Any]] = json.loads(html.unescape(match.group(1)))
    return result


def external_references(page: str | Path) -> list[str]:
    """src= / href= values that load something from outside the file (a self-contained report has none)."""
    text = Path(page).read_text()
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", text, re.I)
    return [r for r in refs if not r.startswith(("data:", "#"))]


SCREENSHOTS_ENV = "DOCS_SCREENSHOTS_DIR"  # not MLGATE_*: conftest clears those for every test


def screenshot(page: str | Path, out: Path, chromium: str, width: int = 1100, height: int = 1400) -> Path:
    """What Chromium draws of ``page`` in a ``width`` x ``height`` window, trimmed of the blank below, as a
    small palette PNG."""
    from PIL import Image, ImageChops

    with tempfile.TemporaryDirectory(prefix="mlgate-chromium-") as profile:
        raw = Path(profile) / "shot.png"
        command = [chromium, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000",
                   "--hide-scrollbars", f"--window-size={width},{height}", f"--screenshot={raw}",
                   Path(page).resolve().as_uri()]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0 or not raw.is_file():
            raise AssertionError(f"chromium took no screenshot ({done.returncode}): {done.stderr[-2000:]}")
        image = Image.open(raw).convert("RGB")
    background = Image.new("RGB", image.size, image.getpixel((0, image.height - 1)))
    box = ImageChops.difference(image, background).getbbox()
    if box is not None:
        image = image.crop((0, 0, width, min(height, box[3] + 24)))
    out.parent.mkdir(parents=True, exist_ok=True)
    image.quantize(colors=64).save(out, optimize=True)
    return out


def save_docs_screenshot(page: str | Path, name: str, chromium: str) -> Path | None:
    """With DOCS_SCREENSHOTS_DIR set to a folder (relative: to the repository), save a screenshot of ``page``
    there as ``name``.png."""
    folder = os.environ.get(SCREENSHOTS_ENV)
    if not folder:
        return None
    return screenshot(page, Path(__file__).resolve().parent.parent / folder / f"{name}.png", chromium)
