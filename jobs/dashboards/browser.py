"""Open Superset dashboards in headless Chromium and report the state of every chart.

Drives Debian's chromium (``/usr/bin/chromium``, or ``GEOPULSE_CHROMIUM``) with Python playwright;
every request that is not to 127.0.0.1 is blocked (map tiles, telemetry), so the check runs
offline. For each chart holder on the page it waits until the chart stops loading and records
``ok``, ``error`` (with the message Superset shows), ``empty`` (no results) or ``timeout``; a map
(deck.gl) counts as ``ok`` only when it drew on a canvas from a non-empty result. Writes a
screenshot per dashboard when asked. Reads and writes nothing else.
"""

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]

# Evaluated in the page: one record per chart holder.
_STATES_JS = """
() => Array.from(document.querySelectorAll('[data-test="dashboard-component-chart-holder"]'))
  .filter(h => h.querySelector('[data-test="chart-grid-component"]'))
  .map(h => {
    const title = ((h.querySelector('[data-test="editable-title"]') || {}).innerText || '').trim();
    const body = h.querySelector('[data-test="chart-container"]') || h.querySelector('.dashboard-chart') || h;
    const text = (body.innerText || '').trim();
    const errEl = h.querySelector('.ant-alert-error, [role="alert"], [data-test="error-tooltip"], .error-alert');
    const bigNumber = body.querySelector('.big_number_total, .superset-legacy-chart-big-number');
    return {
      title,
      loading: !!body.querySelector('[data-test="loading-indicator"], .loading'),
      error: errEl ? ((errEl.innerText || '').trim() || 'error') : '',
      empty: /No results were returned|No data/i.test(text) && !body.querySelector('canvas'),
      drawn: !!(body.querySelector('canvas, table') || (body.querySelector('svg') && !bigNumber) ||
                (bigNumber && !/No data/i.test(bigNumber.innerText || ''))),
      canvas: !!body.querySelector('canvas'),
      text: text.slice(0, 300),
    };
  })
"""


@dataclass
class ChartState:
    title: str
    state: str          # ok | error | empty | timeout
    detail: str = ""
    canvas: bool = False    # drew on a canvas (deck.gl maps do)


@dataclass
class DashboardCheck:
    slug: str
    charts: list[ChartState]
    screenshot: Path | None
    seconds: float

    @property
    def problems(self) -> list[ChartState]:
        return [c for c in self.charts if c.state != "ok"]


def chromium_path() -> str:
    found = os.environ.get("GEOPULSE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        raise FileNotFoundError("chromium not found: `apt-get install chromium` (make test-ui does it)")
    return found


def _classify(raw: dict) -> ChartState:
    if raw["error"]:
        return ChartState(raw["title"], "error", raw["error"][:500])
    if raw["empty"]:
        return ChartState(raw["title"], "empty", "no results")
    if raw["drawn"]:
        return ChartState(raw["title"], "ok", canvas=raw["canvas"])
    return ChartState(raw["title"], "timeout", "nothing drawn")


class Browser:
    """One headless Chromium, logged in to Superset at ``url``."""

    def __init__(self, url: str, user: str, password: str, viewport=(1600, 2200)):
        from playwright.sync_api import sync_playwright

        self.url = url.rstrip("/")
        self._profile = tempfile.mkdtemp(prefix="geopulse_chromium_")
        self._pw = sync_playwright().start()
        self._ctx = self._pw.chromium.launch_persistent_context(
            self._profile, executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": viewport[0], "height": viewport[1]}, timeout=600_000)   # a busy CI box
        self._ctx.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
            ("http://127.0.0.1", "data:", "blob:")) else route.abort())
        self.page = self._ctx.new_page()
        self._log_in(user, password)

    def _log_in(self, user: str, password: str, attempts: int = 3) -> None:
        """Submit the login form and follow Superset's redirect away from /login/. Only the redirect
        is awaited, not the welcome page's scripts (minutes to load on a busy machine); a slow
        answer is tried again, refused credentials fail at once."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        def login_post(response) -> bool:
            return response.request.method == "POST" and "/login" in response.url

        for attempt in range(1, attempts + 1):
            self.page.goto(f"{self.url}/login/", wait_until="domcontentloaded", timeout=180_000)
            self.page.fill('input[name="username"], #username', user)
            self.page.fill('input[name="password"], #password', password)
            try:
                with self.page.expect_response(login_post, timeout=120_000) as answer:
                    self.page.click('button[type="submit"], input[type="submit"], [data-test="login-button"]',
                                    no_wait_after=True)
                to = answer.value.headers.get("location", "")
                if answer.value.status != 302 or "/login" in to:
                    raise RuntimeError(f"Superset at {self.url} refused the login of {user!r} "
                                       f"(HTTP {answer.value.status}{', back to ' + to if to else ''})")
                self.page.wait_for_url(lambda u: "/login" not in u, wait_until="commit", timeout=120_000)
                return
            except PlaywrightTimeout:
                if attempt == attempts:
                    raise RuntimeError(f"no answer from {self.url} to the login of {user!r} after "
                                       f"{attempts} attempts of 2 min; the page is {self.page.url}") from None

    def check(self, slug: str, expected_charts: int, screenshot: Path | None = None,
              timeout_s: float = 120) -> DashboardCheck:
        """Open /superset/dashboard/<slug>/ and wait for ``expected_charts`` charts to settle."""
        started = time.monotonic()
        self.page.goto(f"{self.url}/superset/dashboard/{slug}/?standalone=1", wait_until="domcontentloaded")
        deadline = started + timeout_s
        raws: list[dict] = []
        settled_since = None
        while time.monotonic() < deadline:
            raws = self.page.evaluate(_STATES_JS)
            done = len(raws) >= expected_charts and all(
                not r["loading"] and (r["error"] or r["empty"] or r["drawn"]) for r in raws)
            if done:
                settled_since = settled_since or time.monotonic()
                if time.monotonic() - settled_since >= 2.0:      # let maps finish drawing
                    break
            else:
                settled_since = None
            self.page.wait_for_timeout(500)
        charts = [_classify(r) if not r["loading"] else ChartState(r["title"], "timeout", "still loading")
                  for r in raws]
        charts += [ChartState("?", "timeout", "chart never appeared")] * max(0, expected_charts - len(raws))
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            # The viewport is tall enough for a whole dashboard: a full-page capture would resize
            # the page, and Superset redraws every chart on resize.
            self.page.screenshot(path=str(screenshot))
        return DashboardCheck(slug, charts, screenshot, time.monotonic() - started)

    def close(self) -> None:
        self._ctx.close()
        self._pw.stop()
        shutil.rmtree(self._profile, ignore_errors=True)
