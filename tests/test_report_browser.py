"""Load a fixture report in headless Chromium: it renders, offline, at desktop and phone widths.

Skipped when no ``chromium`` binary is installed. Screenshots are also saved under
``artifacts/`` (git-ignored) for a human to look at.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from balint_analysis.report import render_report

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser")) if p), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (apt-get install chromium)"
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _fixtures() -> ModuleType:
    """The known inputs of tests/test_report.py (loaded by path: tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "_report_fixtures", Path(__file__).with_name("test_report.py")
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    fx = _fixtures()
    cfg = fx.make_config()
    out = tmp_path_factory.mktemp("report") / "report.html"
    out.write_text(render_report(fx.make_inputs(cfg), cfg), encoding="utf-8")
    return out


@pytest.mark.parametrize(("name", "size"), [("report", "1280,2000"), ("report-375", "375,2400")])
def test_screenshot(report_file: Path, tmp_path: Path, name: str, size: str) -> None:
    png = tmp_path / f"{name}.png"
    res = _chromium(tmp_path, f"--screenshot={png}", f"--window-size={size}", report_file.as_uri())
    assert res.returncode == 0, res.stderr.decode(errors="replace")[-2000:]
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copyfile(png, artifacts / png.name)


def test_dom_renders(report_file: Path, tmp_path: Path) -> None:
    res = _chromium(tmp_path, "--dump-dom", report_file.as_uri())
    assert res.returncode == 0, res.stderr.decode(errors="replace")[-2000:]
    dom = res.stdout.decode("utf-8")
    assert "The answer in brief" in dom
    assert "fell by 3.9 points more in the Balint group" in dom
    assert dom.count("<svg") == 4 and dom.count("<table") >= 8
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
