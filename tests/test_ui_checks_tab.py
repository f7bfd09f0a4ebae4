"""Issue 13 item: the checks appear on their assets in the UI — in a real browser (Debian's
chromium, driven by its chromedriver) on a real ``dagster-webserver``, the customers asset's
Checks tab lists every check declared on customers, each with the result of the ``cdp check``
run before, and the selected check's description is its ``guards`` line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cdp_pipeline.quality import check_declarations

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from screenshot_checks_tab import CHROMIUM, browser, cdp, demo_env, open_checks_tab, webserver  # noqa: E402


def test_customers_checks_tab_lists_every_declared_check(tmp_path: Path) -> None:
    """Issue 13 item: the checks appear on their assets in the UI — every check declared on
    customers (cdp_pipeline.quality.check_declarations) is listed on the customers asset's Checks
    tab, none more, each "Succeeded" after ``cdp check`` on a clean warehouse."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (Debian's chromium: .ci/run installs it)")
    declared = [check for check in check_declarations() if check.asset == "customers"]
    home = tmp_path / "cdp"
    env = demo_env(home)
    demo = tmp_path / "demo"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_demo_files.py"), str(demo)], check=True)
    cdp(env, "import", "customers", str(demo / "user_2024-05-01.csv"), "--tag", "demo")
    cdp(env, "check")
    with webserver(env) as url, browser() as driver:
        text = open_checks_tab(driver, url, "customers", [c.name for c in declared], selected=declared[0].name)
    assert f"Checks ({len(declared)})" in text
    for check in declared:
        assert f"{check.name}\nSucceeded" in text, check.name
    assert declared[0].guards in text
