"""Take the README's screenshot of the Dagster UI: the Checks tab of the ``customers`` asset.

    python scripts/screenshot_checks_tab.py [--out docs/checks_tab.png]

What it does, each step as a user would:

1. builds the demo in a temporary CDP_HOME, as ``make demo`` does (scripts/make_demo_files.py,
   then ``cdp import customers`` for the three customer files and ``cdp import tmall`` for the
   Tmall export pair), and runs ``cdp check``: every check passes;
2. corrupts one customer's mobile (``1391234567``: 10 digits) and runs ``cdp check`` again, so
   the tab shows one failed check, ``customer_mobiles_valid`` (non-blocking), with the failing
   row masked as every check result is (``mobile=139*****67``);
3. starts ``dagster-webserver -w workspace.yaml`` on a free local port, on the same CDP_HOME and
   DAGSTER_HOME, and waits until it answers;
4. opens ``/assets/customers?view=checks&checkDetail=customer_mobiles_valid`` in Debian's
   chromium (driven by its chromedriver, package chromium-driver, through selenium), waits until
   every check declared on customers is listed with its result, saves the PNG (1400x900), and
   stops the browser and the webserver; the temporary CDP_HOME is removed.

The Dagster UI opens a "Join the Dagster community" dialog on a first visit to localhost; the
browser is told it was dismissed (the UI's own localStorage key), so the dialog does not cover
the tab. tests/test_ui_checks_tab.py uses the same functions.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package chromium
CHROMEDRIVER = Path("/usr/bin/chromedriver")  # Debian's package chromium-driver, built with it
VIEWPORT = (1400, 900)
# The failure shown: a 10-digit mobile on the first customer (customer_mobiles_valid fails).
UNMASKED_MOBILE = "1391234567"
CORRUPTION = (
    f"UPDATE customers SET mobile = '{UNMASKED_MOBILE}' WHERE customer_id = (SELECT min(customer_id) FROM customers)"
)
FAILED_CHECK = "customer_mobiles_valid"


def cdp(env: dict[str, str], *args: str) -> None:
    """Run the ``cdp`` command of this checkout (``python -m dagster_project.cli``)."""
    subprocess.run([sys.executable, "-m", "dagster_project.cli", *args], env=env, cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def demo_env(home: Path) -> dict[str, str]:
    """The environment of a CDP_HOME at ``home`` with its Dagster instance in ``home/dagster``."""
    return {**os.environ, "CDP_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}


def build_demo_home(home: Path) -> dict[str, str]:
    """The demo's imports (the Makefile's ``demo`` target) into ``home``, then ``cdp check``;
    returns the environment that points ``cdp`` and the webserver at it."""
    env, demo = demo_env(home), home / "demo"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_demo_files.py"), str(demo)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    cdp(env, "import", "customers", str(demo / "user_2024-05-01.csv"), "--tag", "demo", "--group", "Demo import")
    cdp(env, "import", "customers", str(demo / "user_2024-05-02_gb18030.csv"), "--tag", "demo")
    cdp(env, "import", "customers", str(demo / "user_2024-05-03.xlsx"), "--tag", "demo", "--mode", "fast")
    tmall = demo / "tmall"
    orders, items = tmall / "ExportOrderList201709010000.csv", tmall / "ExportOrderDetailList201709010000.csv"
    tagged = ["--tag", "tmall", "--group", "Tmall buyers"]
    cdp(env, "import", "tmall", "--orders", str(orders), "--items", str(items), *tagged)
    cdp(env, "check")
    return env


def corrupt_one_mobile(env: dict[str, str]) -> None:
    """Store a 10-digit mobile on one customer, then ``cdp check``: customer_mobiles_valid fails
    (non-blocking, so ``cdp check`` exits 0)."""
    import duckdb

    with duckdb.connect(str(Path(env["CDP_HOME"]) / "warehouse.duckdb")) as con:
        con.execute(CORRUPTION)
    cdp(env, "check")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_answering(url: str, server: subprocess.Popen, log, timeout: float) -> None:
    """Poll ``url``/server_info until it answers; fail with the server's log if it exits or
    ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while server.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    log.seek(0)
    raise RuntimeError(f"dagster-webserver did not answer on {url}:\n{log.read().decode()[-3000:]}")


@contextlib.contextmanager
def webserver(env: dict[str, str], timeout: float = 60) -> Iterator[str]:
    """``dagster-webserver -w workspace.yaml`` (as ``make ui``, without the daemon) on a free
    port; yields its URL once it answers, and stops it (and its code server) after."""
    port = free_port()
    command = [sys.executable, "-m", "dagster_webserver", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # fmt: skip
        try:
            wait_until_answering(url, server, log, timeout)
            yield url
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)  # its own session: the webserver and its code server
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


@contextlib.contextmanager
def browser() -> Iterator[object]:
    """Headless Debian chromium, driven through Debian's chromedriver, with a 1400x900 page."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless", "--no-sandbox", "--hide-scrollbars", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        width, height = VIEWPORT
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
        yield driver
    finally:
        driver.quit()


def open_checks_tab(driver, url: str, asset: str, checks: list[str], selected: str | None = None,
                    timeout: float = 60) -> str:  # fmt: skip
    """Open ``asset``'s Checks tab (``selected`` check's details on the right) and wait until each
    of ``checks`` is listed with the result of its latest run; returns the page's text."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{url}/server_info")  # same origin: the UI's "community" dialog marked dismissed
    driver.execute_script("window.localStorage.setItem('communityNux', JSON.stringify('1'))")
    query = "view=checks" + (f"&checkDetail={selected}" if selected else "")
    driver.get(f"{url}/assets/{asset}?{query}")

    def missing(text: str) -> list[str]:
        shown = [name for name in checks if f"{name}\nSucceeded" in text or f"{name}\nFailed" in text]
        details = [] if selected is None or "Latest execution" in text else [f"{selected}'s latest execution"]
        return [name for name in checks if name not in shown] + details

    def page_text(driver) -> str:
        return driver.find_element(By.TAG_NAME, "body").text

    def ready(driver) -> str | None:
        text = page_text(driver)
        return None if missing(text) else text

    try:
        text = WebDriverWait(driver, timeout, poll_frequency=0.5).until(ready)
    except TimeoutException:
        text = page_text(driver)
        raise TimeoutError(f"{url}/assets/{asset}?{query} does not show {missing(text)} with a result "
                           f"after {timeout:.0f} s; it shows:\n{text}") from None  # fmt: skip
    time.sleep(1)  # the details' plot draws after its data arrives
    return text


def main(argv: list[str] | None = None) -> int:
    from cdp_pipeline.quality import check_declarations

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "checks_tab.png", help="the PNG to write")
    args = parser.parse_args(argv)
    checks = [check.name for check in check_declarations() if check.asset == "customers"]
    with tempfile.TemporaryDirectory(prefix="cdp-ui-") as tmp:
        env = build_demo_home(Path(tmp) / "cdp")
        corrupt_one_mobile(env)
        with webserver(env) as url, browser() as driver:
            text = open_checks_tab(driver, url, "customers", checks, selected=FAILED_CHECK)
            if UNMASKED_MOBILE in text:  # SPEC §7: results show personal data masked
                raise SystemExit(f"the Checks tab shows the mobile {UNMASKED_MOBILE} unmasked: no screenshot taken")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.out))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
