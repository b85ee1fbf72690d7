"""The console in headless Chromium (Debian's chromium and chromium-driver, driven by Selenium)
against a local stack of its own in this process: real HTTP, the embedded DynamoDB endpoint, the
demo reviewers. Every test fails on a browser console error (a script error, a CSP violation, a
failed request it did not declare), and saves screenshots of the pages it visits under
tests/browser/screenshots/ (ignored by git)."""
from __future__ import annotations

import json
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests

from adapters.partners import token_hash
from functions import bootstrap
from infra.local.stack import LocalStack
from tests.receivers import Receiver, Reply

SCREENSHOTS = Path(__file__).parent / "screenshots"
AXE = Path(__file__).parents[1] / "clients" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP, PHONE = (1280, 800), (390, 844)
WAIT = 10.0  # seconds a page may take to show what a test waits for
PARTNERS = {
    "alpha": {"hl7_facilities": ["ACMEHLTH"]},
    "browser": {"hl7_facilities": ["BROWSER"]},
    "pager": {"hl7_facilities": ["PAGER"]},
}


@dataclass
class Payer:
    """The receiver of one partner's determinations: it refuses them (400) until it is fixed."""

    receiver: Receiver
    partner: str = "deadpayer"

    def refuse(self) -> None:
        self.receiver.serve("/fhir/ClaimResponse", Reply(400, {"Content-Type": "application/fhir+json"},
                            b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid"}]}'))

    def fix(self) -> None:
        self.receiver.serve("/fhir/ClaimResponse", Reply(201))


@pytest.fixture(scope="package")
def payer() -> Iterator[Payer]:
    with Receiver() as receiver:
        payer = Payer(receiver)
        payer.refuse()
        yield payer


@pytest.fixture(scope="package")
def stack(tmp_path_factory, payer) -> Iterator[LocalStack]:
    partners = tmp_path_factory.mktemp("partners") / "partners.yaml"
    entries = [{"id": p, "token_sha256": [token_hash(f"token-{p}")], **more} for p, more in PARTNERS.items()]
    entries.append({"id": payer.partner, "token_sha256": [token_hash(f"token-{payer.partner}")],
                    "hl7_facilities": ["DEADPAYER"], "delivery": {"fhir": {"base_url": f"{payer.receiver.url}/fhir"}}})
    partners.write_text(json.dumps({"partners": entries}))
    key = tmp_path_factory.mktemp("keys") / "signing-key.pem"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DELIVERY_BACKOFF_BASE_SECONDS", "1")
        env.setenv("DELIVERY_BACKOFF_CAP_SECONDS", "2")
        bootstrap.override(None)  # this stack's tables and endpoints, not another's
        stack = LocalStack("127.0.0.1", 0, str(partners), mllp_port=None, signing_key=str(key)).start()
        yield stack
        stack.stop()
        bootstrap.override(None)


@contextmanager
def clock_at(at: datetime) -> Iterator[None]:
    """The stack's clock (the handlers run in this process) reads `at` meanwhile: a fake clock."""
    services = bootstrap.services()
    real = services.clock
    services.clock = lambda: at
    try:
        yield
    finally:
        services.clock = real


@dataclass
class Browser:
    """One headless Chromium and what the running test allows it to log."""

    driver: object
    base_url: str
    expected: list[str] = field(default_factory=list)  # substrings of network errors the test provokes

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def wait(self, condition: Callable[[object], object], message: str = "", timeout: float = WAIT):
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        # The pages redraw (a refresh, a re-read after an action): an element read as it goes is asked again.
        return WebDriverWait(self.driver, timeout, ignored_exceptions=[StaleElementReferenceException]).until(
            condition, message)

    def find(self, css: str, timeout: float = WAIT):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        return self.wait(ec.visibility_of_element_located((By.CSS_SELECTOR, css)), f"no visible {css}", timeout)

    def all(self, css: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def button(self, text: str, within: str = "body"):
        """The visible button (or link) whose text is `text`."""
        from selenium.webdriver.common.by import By

        def found(driver):
            for element in driver.find_elements(By.CSS_SELECTOR, f"{within} button, {within} a"):
                if element.is_displayed() and element.text.strip() == text:
                    return element
            return False
        return self.wait(found, f"no button {text!r} in {within}")

    def sign_in(self, username: str, path: str = "/console/") -> None:
        self.open(path)
        self.button(username, "#signin-users").click()
        self.wait(lambda d: not self.all("#signin-users"), "still on the sign-in page")

    def expect_error(self, fragment: str) -> None:
        """A failed request this test provokes (Chromium logs a 4xx as a console error)."""
        self.expected.append(fragment)

    def errors(self) -> list[dict]:
        entries = self.driver.get_log("browser")
        return [e for e in entries if e["level"] == "SEVERE"
                and not (e.get("source") == "network" and any(f in e["message"] for f in self.expected))]

    def screenshot(self, name: str, size: tuple[int, int] = DESKTOP) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        self.driver.set_window_size(*size)
        self.driver.execute_script("window.scrollTo(0, 0)")
        time.sleep(0.2)  # the layout settles
        path = SCREENSHOTS / f"{name}-{size[0]}x{size[1]}.png"
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(*DESKTOP)
        return path

    def accessibility_violations(self) -> list[dict]:
        """axe-core's WCAG 2 A/AA rules (labels, contrast, names, landmarks...) over the page as it is."""
        if not AXE.exists():
            pytest.skip("axe-core is not installed (`make test` installs it with npm in tests/clients)")
        self.driver.execute_script(AXE.read_text())
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}).then(r => done(r.violations))")
        return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:5]} for v in result]


@pytest.fixture(scope="package")
def chromium() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        pytest.fail("chromium and chromedriver are needed (`make test` installs Debian's chromium and chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={DESKTOP[0]},{DESKTOP[1]}", "--disable-extensions"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(driver))
    browser.set_script_timeout(30)
    yield browser
    browser.quit()


@pytest.fixture
def browser(chromium, stack) -> Iterator[Browser]:
    """The browser for one test, signed out (tokens live in the page's memory: a new page forgets them)."""
    chromium.get("about:blank")
    chromium.get_log("browser")  # what earlier tests left
    page = Browser(chromium, stack.base_url)
    yield page
    errors = page.errors()
    assert not errors, "browser console errors:\n" + "\n".join(e["message"] for e in errors)


@pytest.fixture
def partner_api(stack):
    """partner_api(partner) -> (method, path, body) -> a response, with the partner's token."""
    def call(partner: str = "alpha"):
        def send(method: str, path: str, body: str | bytes | None = None, content_type: str = "application/fhir+json"):
            return requests.request(method, stack.base_url + path, data=body, timeout=30, headers={
                "Authorization": f"Bearer token-{partner}", "Content-Type": content_type})
        return send
    return call


@pytest.fixture
def as_reviewer(stack):
    """as_reviewer(user) -> (method, path, body=None) -> a response, with that reviewer's token."""
    def call(user: str = "dr-demo"):
        token = stack.user_pool.token(user)

        def send(method: str, path: str, body: dict | None = None):
            return requests.request(method, stack.base_url + path, json=body, timeout=30,
                                    headers={"Authorization": f"Bearer {token}"})
        return send
    return call
