"""Benchmark figure 12: the console's worklist, interactive, with 1,000 open cases on the local stack.

A LocalStack in this process (embedded DynamoDB and S3) holds 1,000 open cases, written straight to
the table; Debian's headless chromium (Selenium) opens /console/ cold, signs in as a demo reviewer
and waits for the worklist's first page. The console marks both moments itself
(performance.mark "signin-ready" and "worklist-ready"), so the figure is the page's own clock:
  load  = navigation start -> the sign-in page listing its users, interactive
  first = the click on a user -> the worklist's 50 rows rendered, filters usable
Beside it, the same first page as the API alone answers it (GET /cases?limit=50, one client), the
part of `first` that is not the page's own work.
"""
from __future__ import annotations

import os
import shutil
import statistics
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 5

READY = """
const [name, done] = [arguments[0], arguments[arguments.length - 1]];
const seen = () => performance.getEntriesByName(name).length > 0;
const poll = () => seen() ? done(performance.getEntriesByName(name).at(-1).startTime) : setTimeout(poll, 5);
poll();
"""
SIGN_IN = """
const [user, done] = [arguments[0], arguments[arguments.length - 1]];
performance.clearMarks('worklist-ready');
const button = [...document.querySelectorAll('#signin-users button')].find(b => b.textContent.trim() === user);
const t0 = performance.now();
button.click();
const poll = () => performance.getEntriesByName('worklist-ready').length
    ? done(performance.getEntriesByName('worklist-ready')[0].startTime - t0) : setTimeout(poll, 5);
poll();
"""


def worklist_interactive(count: int = 1000) -> dict:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from functions import bootstrap
    from infra.local.stack import LocalStack
    from review_side import seed

    bootstrap.override(None)  # this stack's endpoints, not an earlier figure's
    stack = LocalStack("127.0.0.1", 0, str(ROOT / "infra" / "local" / "partners.yaml")).start()
    driver = None
    try:
        from functions.bootstrap import aws_client

        seed(aws_client("dynamodb", "CLAIMBRIDGE_DYNAMODB_ENDPOINT"), os.environ["CASES_TABLE"], count, overdue=10)
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800"):
            options.add_argument(argument)
        driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
        driver.set_script_timeout(30)
        token = stack.user_pool.token("nurse-demo")
        loads, firsts, api = [], [], []
        for _ in range(ROUNDS + 1):  # the first round warms the browser's and the stack's caches
            driver.get(stack.base_url + "/console/")
            loads.append(driver.execute_async_script(READY, "signin-ready"))
            firsts.append(driver.execute_async_script(SIGN_IN, "nurse-demo"))
            rows = driver.execute_script("return document.querySelectorAll('#worklist tbody tr[data-case-id]').length")
            assert rows == 50, rows
            t = time.perf_counter()
            assert requests.get(stack.base_url + "/cases", params={"limit": 50}, timeout=30,
                                headers={"Authorization": f"Bearer {token}"}).status_code == 200
            api.append((time.perf_counter() - t) * 1e3)
        load, first = statistics.median(loads[1:]), statistics.median(firsts[1:])
        return {"cases": count, "load_ms": load, "first_ms": first, "api_ms": statistics.median(api[1:]),
                "interactive_s": (load + first) / 1e3}
    finally:
        if driver is not None:
            driver.quit()
        stack.stop()
