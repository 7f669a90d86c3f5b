"""`make screenshots`: full-page PNGs of the demo shop per role, in docs/screens/.

Builds a throwaway SQLite database in a temporary directory, migrates it, seeds it
with `seed_demo`, serves it with `runserver` on a free port (offline payments,
static files served as `make demo` serves them), signs in as each demo login and
saves each main page at 1280 px wide. Prints a line per step; on failure prints
one line and exits 1. The server is always stopped and the database removed.

    .venv/bin/python scripts/screenshots.py [--out docs/screens]
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 800}
SEED_ARGS = ["--customers", "20", "--days", "30", "--seed", "7"]
DEMO_PASSWORD = "purelaka-demo"  # noqa: S105 - the demo logins' published password
TIMEOUT_MS = 30_000


class ScreenshotError(Exception):
    pass


def log(message: str) -> None:
    print(f"screenshots: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(env: dict, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()
        raise ScreenshotError(
            f"manage.py {args[0]} failed: {last[-1] if last else result.returncode}"
        )


def wait_until_up(url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ScreenshotError(f"runserver exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise ScreenshotError(f"the server did not answer {url} within {timeout:.0f}s")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


class Camera:
    """Signs in as a demo login and saves pages as docs/screens/<name>.png."""

    def __init__(self, browser, base_url: str, out: Path):
        self.browser, self.base_url, self.out = browser, base_url, out
        self.saved: list[str] = []

    def session(self, email: str):
        context = self.browser.new_context(
            base_url=self.base_url, viewport=VIEWPORT, locale="en-GB"
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.goto("/account/login/")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.get_by_role("button", name="Sign out").wait_for()
        return context, page

    def shoot(self, page, name: str, path: str | None = None) -> None:
        if path is not None:
            response = page.goto(path)
            if response is None or response.status != 200:
                status = response.status if response else "no response"
                raise ScreenshotError(f"{name}: {path} answered {status}")
        page.wait_for_load_state("networkidle")
        target = self.out / f"{name}.png"
        page.screenshot(path=str(target), full_page=True)
        self.saved.append(target.name)
        log(f"saved {target.relative_to(ROOT)} ({target.stat().st_size // 1024} KB)")


def customer(camera: Camera) -> None:
    context, page = camera.session("customer@purelaka.test")
    camera.shoot(page, "customer-shop", "/products/")
    page.goto("/products/")
    # The first product a person can buy (subscriptions and sold-out ones aside).
    for card in page.get_by_role("main").get_by_role("heading", level=3).all():
        card.get_by_role("link").click()
        page.get_by_role("heading", level=1).wait_for()
        add = page.get_by_role("button", name="Add to cart")
        if add.count() and add.is_enabled():
            break
        page.go_back()
    else:
        raise ScreenshotError("no product in the shop can be added to the cart")
    product_path = page.url.removeprefix(camera.base_url)
    save = page.get_by_role("button", name="Save to wishlist")
    if save.count():
        save.click()
    camera.shoot(page, "customer-product", product_path)
    page.get_by_role("button", name="Add to cart").click()
    page.get_by_role("heading", name="Your cart", level=1).wait_for()
    camera.shoot(page, "customer-cart")
    page.get_by_role("link", name="Check out").click()
    page.get_by_label("Address line 1").fill("12 Market Street")
    page.get_by_label("Town or city").fill("York")
    page.get_by_label("Postcode").fill("YO1 7HH")
    page.get_by_role("button", name="Place order").click()
    page.get_by_role("button", name=re.compile(r"^Pay .* now$")).click()
    page.get_by_role("button", name="Pay", exact=True).click()
    page.get_by_text("Payment received. Thank you!").wait_for()
    camera.shoot(page, "customer-order")
    camera.shoot(page, "customer-subscriptions", "/account/subscriptions/")
    camera.shoot(page, "customer-wishlist", "/wishlist/")
    context.close()


def ops(camera: Camera) -> None:
    context, page = camera.session("ops@purelaka.test")
    camera.shoot(page, "ops-queue", "/ops/")
    page.goto("/ops/?status=paid")
    orders = page.get_by_role("link", name=re.compile(r"^PL-[A-Z2-9]{8}$"))
    if not orders.count():
        page.goto("/ops/")
    orders.first.click()
    page.get_by_role("heading", name=re.compile(r"^Order PL-"), level=1).wait_for()
    camera.shoot(page, "ops-order")
    camera.shoot(page, "ops-stock", "/ops/stock/")
    camera.shoot(page, "ops-attention", "/ops/payments/")
    context.close()


def analyst(camera: Camera) -> None:
    context, page = camera.session("analyst@purelaka.test")
    for name, path in [
        ("analyst-executive", "/analytics/"),
        ("analyst-customers", "/analytics/customers/"),
        ("analyst-products", "/analytics/products/"),
        ("analyst-subscriptions", "/analytics/subscriptions/"),
        ("analyst-exports", "/analytics/exports/"),
        ("analyst-definitions", "/analytics/definitions/"),
    ]:
        camera.shoot(page, name, path)
    context.close()


def admin(camera: Camera) -> None:
    context, page = camera.session("admin@purelaka.test")
    camera.shoot(page, "admin-monitoring", "/monitoring/")
    camera.shoot(page, "admin-audit", "/monitoring/audit/")
    page.goto("/admin/accounts/user/")
    page.get_by_role("link", name="ops@purelaka.test", exact=True).click()
    page.get_by_role("heading", name="Change user", level=1).wait_for()
    camera.shoot(page, "admin-roles")
    context.close()


def run(out: Path) -> list[str]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise ScreenshotError(f"Chromium not found at {CHROMIUM}")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="purelaka-screens-") as tmp:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "purelaka.settings",
            "DATABASE_URL": f"sqlite:///{tmp}/screens.sqlite3",
            "PAYMENTS_USE_STRIPE": "0",
            # As `make demo` serves: DEBUG lets WhiteNoise serve static/ directly.
            "DJANGO_DEBUG": "1",
        }
        log(f"migrating a throwaway database in {tmp}")
        manage(env, "migrate", "--noinput", "-v0")
        log(f"seeding the demo shop (seed_demo {' '.join(SEED_ARGS)})")
        manage(env, "seed_demo", *SEED_ARGS)
        manage(env, "run_checks")
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        log(f"serving on {base_url}")
        server = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "runserver",
                f"127.0.0.1:{port}",
                "--noreload",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_until_up(f"{base_url}/monitoring/healthz/", server)
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=str(CHROMIUM),
                    args=[
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                        "--lang=en-GB",
                    ],
                    # Date inputs follow the process locale, not the page's.
                    env={**os.environ, "LANG": "en_GB.UTF-8", "LANGUAGE": "en_GB"},
                )
                camera = Camera(browser, base_url, out)
                for role, shoot in [
                    ("customer", customer),
                    ("ops", ops),
                    ("analyst", analyst),
                    ("admin", admin),
                ]:
                    log(f"signing in as the demo {role}")
                    shoot(camera)
                browser.close()
        finally:
            stop(server)
            log("server stopped")
    return camera.saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screens")
    args = parser.parse_args()
    started = time.monotonic()
    try:
        saved = run(args.out.resolve())
    except Exception as exc:  # one line for any failure, as `make` prints it
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"screenshots: failed: {message[:300]}", file=sys.stderr)
        return 1
    log(f"{len(saved)} screenshots in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
