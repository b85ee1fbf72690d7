"""The reviewer and operations console, driven in headless Chromium against the local stack
(tests/browser/conftest.py): sign-in, the worklist, a case from submission to ClaimResponse, the
overdue highlight, XSS, the stale-version message and the operations page. Each test fails on any
browser console error; each page visited is saved as a screenshot."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from tests import factories as f
from tests import hl7_factories as h
from tests.browser.conftest import PHONE, clock_at

XSS = "<img src=x onerror=alert(1)>"
_numbers = iter(range(10_000))


def submit(partner_api, *, family: str = "QUILLFEATHER", items: int = 1, partner: str = "alpha",
           supporting: bytes | None = None, priority: str = "normal") -> str:
    """A PAS request from `partner`; the new case's id."""
    n = next(_numbers)
    claim = f.claim(f"UI-{n}", items=items, priority=priority,
                    **({"supportingInfo": f.supporting_info(supporting)} if supporting else {}))
    bundle = f.pas_bundle(claim, identifier=f"UI-B-{n}", member_id=f"UI-M-{n}")
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["name"] = [{"family": family, "given": ["ODALYS"]}]
    resp = partner_api(partner)("POST", "/fhir/Claim/$submit", json.dumps(bundle))
    assert resp.status_code == 200, resp.text
    return resp.json()["entry"][0]["resource"]["id"]


def row(browser, case_id: str) -> dict:
    """A worklist row as shown: its text, classes and first link (read at once: the page redraws)."""
    def shown(driver):
        found = browser.all(f'#worklist tbody tr[data-case-id="{case_id}"]')
        return found and {"text": found[0].text, "classes": found[0].get_attribute("class").split(),
                          "link": found[0].find_element(By.CSS_SELECTOR, "a"),
                          "countdown": found[0].find_element(By.CSS_SELECTOR, ".countdown").text,
                          "color": driver.execute_script("return getComputedStyle(arguments[0]).color",
                                                         found[0].find_element(By.CSS_SELECTOR, ".countdown"))}
    return browser.wait(shown, f"case {case_id} is not on the worklist")


def status(browser) -> str:
    return browser.find("#case-status").text.strip()


def command(browser, form: str, button: str) -> None:
    """Submits one action form and waits for the case to be read again."""
    before = browser.find("#case-status").get_attribute("outerHTML")
    browser.button(button, f"#{form}").click()
    browser.wait(lambda d: browser.all("#case-status") and browser.all("#case-status")[0].get_attribute("outerHTML") != before
                 or browser.all(f"#{form} .form-errors:not(:empty), #{form} .field-error:not(:empty)"),
                 f"{form}: no new state and no error")


def set_value(browser, element, value: str) -> None:
    browser.driver.execute_script("arguments[0].value = arguments[1];"
                                  "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));"
                                  "arguments[0].dispatchEvent(new Event('change', {bubbles: true}));", element, value)


# ---- sign-in ---------------------------------------------------------------------------------------

def test_sign_in_lists_the_demo_users_and_returns_to_the_deep_link(browser):
    browser.open("/console/operations")
    users = [b.text for b in browser.find("#signin-users").find_elements(By.TAG_NAME, "button")]
    assert users == ["dr-demo", "nurse-demo", "lead-demo"]
    browser.screenshot("signin")
    browser.screenshot("signin", PHONE)
    browser.button("lead-demo", "#signin-users").click()
    browser.find("#messages")
    assert browser.driver.current_url.endswith("/console/operations")
    stored = browser.driver.execute_script("return JSON.stringify([localStorage, sessionStorage])")
    assert "eyJ" not in stored  # the token lives in the page's memory only
    browser.button("Sign out").click()
    browser.find("#signin-users")
    browser.driver.refresh()  # and a reload has forgotten it
    browser.find("#signin-users")


def test_a_reviewer_sees_no_operations_link(browser):
    browser.sign_in("nurse-demo")
    browser.find("#worklist")
    assert not browser.driver.find_element(By.ID, "nav-operations").is_displayed()
    assert browser.button("Worklist", "#site-nav").is_displayed()


# ---- the worklist ----------------------------------------------------------------------------------

def test_a_submitted_pas_case_appears_on_the_worklist(browser, partner_api):
    case_id = submit(partner_api)
    browser.sign_in("nurse-demo")
    line = row(browser, case_id)
    text = line["text"]
    assert "alpha" in text and "prior-auth" in text and "standard" in text and "received" in text
    assert "QUILLFEATHER" not in browser.find("#worklist").text  # the worklist shows no PHI
    time.sleep(1.2)
    assert row(browser, case_id)["countdown"] != line["countdown"]  # it counts down
    browser.screenshot("worklist")
    browser.screenshot("worklist", PHONE)
    assert browser.accessibility_violations() == []


def test_the_worklist_filters_and_keeps_them_in_the_link(browser, partner_api):
    case_id = submit(partner_api, partner="browser")
    browser.sign_in("nurse-demo")
    partner = browser.find('#worklist-filters [name="partner"]')
    partner.send_keys("browser", Keys.ENTER)
    browser.wait(lambda d: "partner=browser" in d.current_url, "the filter is not in the URL")
    rows = browser.wait(lambda d: browser.all("#worklist tbody tr[data-case-id]"), "no rows")
    assert {r.get_attribute("data-case-id") for r in rows} == {case_id} | ({r.get_attribute("data-case-id")
                                                                            for r in rows} - {case_id})
    assert all("browser" in r.text for r in rows)
    browser.driver.refresh()  # the deep link keeps the filter (after signing in again)
    browser.button("nurse-demo", "#signin-users").click()
    row(browser, case_id)
    assert browser.find('#worklist-filters [name="partner"]').get_attribute("value") == "browser"


def test_the_worklist_pages_through_the_apis_cursor(browser, partner_api):
    with clock_at(datetime.now(timezone.utc) + timedelta(days=60)):  # due after every other test's cases
        cases = [submit(partner_api, partner="pager") for _ in range(51)]
    browser.sign_in("nurse-demo", "/console/?partner=pager")
    browser.wait(lambda d: len(browser.all("#worklist tbody tr[data-case-id]")) == 50, "page 1 is not 50 rows")
    first = {r.get_attribute("data-case-id") for r in browser.all("#worklist tbody tr[data-case-id]")}
    assert first < set(cases)
    browser.find("#worklist-next").click()
    browser.wait(lambda d: {r.get_attribute("data-case-id") for r in browser.all("#worklist tbody tr[data-case-id]")}
                 == set(cases) - first, "page 2 is not the one case left")
    assert browser.find("#worklist-next").get_attribute("disabled") is not None
    browser.find("#worklist-prev").click()
    browser.wait(lambda d: len(browser.all("#worklist tbody tr[data-case-id]")) == 50, "back to page 1")


def test_an_overdue_case_is_highlighted(browser, partner_api):
    with clock_at(datetime.now(timezone.utc) - timedelta(days=30)):  # received a month ago: its 7 days are past
        late = submit(partner_api)
    with clock_at(datetime.now(timezone.utc) - timedelta(hours=60)):  # expedited, 72 h: 12 h left
        soon = submit(partner_api, priority="stat")
    on_time = submit(partner_api)
    browser.sign_in("nurse-demo")
    overdue, due_soon, in_time = row(browser, late), row(browser, soon), row(browser, on_time)
    assert "overdue" in overdue["classes"] and "overdue" in overdue["text"].lower()
    assert "due-soon" in due_soon["classes"] and "due soon" in due_soon["text"].lower()
    assert "expedited" in due_soon["text"]
    assert not {"overdue", "due-soon"} & set(in_time["classes"])
    assert len({overdue["color"], due_soon["color"], in_time["color"]}) == 3  # red, amber: not only words
    browser.screenshot("worklist-deadlines")
    browser.find('#worklist-filters [name="overdue"]').click()
    browser.wait(lambda d: "overdue=true" in d.current_url, "the overdue filter is not applied")
    browser.wait(lambda d: all("overdue" in r.get_attribute("class").split()
                               for r in browser.all("#worklist tbody tr[data-case-id]")), "a case not overdue is listed")
    row(browser, late)


def test_the_worklist_is_worked_from_the_keyboard(browser, partner_api):
    case_id = submit(partner_api)
    browser.sign_in("nurse-demo")
    browser.wait(lambda d: browser.driver.execute_script("arguments[0].focus(); return true", row(browser, case_id)["link"]),
                 "the case link cannot take focus")
    browser.driver.switch_to.active_element.send_keys(Keys.ENTER)
    browser.find("#case-status")
    assert browser.driver.current_url.endswith(f"/console/cases/{case_id}")
    assert browser.driver.switch_to.active_element.tag_name == "h1"  # focus moves to the new page's heading
    browser.find("#member-show").send_keys(Keys.ENTER)
    browser.wait(lambda d: "QUILLFEATHER" in browser.find("#member").text, "the member is not shown")


# ---- a case, from submission to ClaimResponse --------------------------------------------------------

def test_the_full_review_flow_ends_in_a_claimresponse_with_a1_and_a3(browser, partner_api, as_reviewer):
    case_id = submit(partner_api, items=2, supporting=b"%PDF-1.4 notes\n%%EOF\n")
    browser.sign_in("dr-demo", f"/console/cases/{case_id}")
    assert status(browser) == "received"
    member = browser.find("#member").text
    assert "QUILLFEATHER" not in member and "*****" in member  # masked until asked for
    browser.find("#member-show").click()
    browser.wait(lambda d: "QUILLFEATHER" in browser.find("#member").text, "the member is not shown")
    audit = as_reviewer("lead-demo")("GET", f"/cases/{case_id}/audit").json()["access"]
    assert "member-reveal" in [a["action"] for a in audit]
    assert "1234567893" in browser.find("#providers").text  # NPI
    items = browser.find("#items").text
    assert "99211" in items and "99212" in items
    assert "document" in browser.find("#documents").text.lower()

    command(browser, "assign-me-form", "Assign to me")
    assert status(browser) == "assigned"
    command(browser, "start-form", "Start review")
    assert status(browser) == "in-review"

    form = browser.find("#information-request-form")
    form.find_element(By.CSS_SELECTOR, '[name="text"]').send_keys("Progress notes of the last two visits")
    set_value(browser, form.find_element(By.CSS_SELECTOR, '[name="due_by"]'),
              (datetime.now(timezone.utc) + timedelta(days=10)).date().isoformat())
    command(browser, "information-request-form", "Send request")
    assert status(browser) == "information-requested"
    pended = browser.find("#claimresponse").text
    assert "A4" in pended  # the pend the payer reads meanwhile

    form = browser.find("#information-form")
    form.find_element(By.CSS_SELECTOR, '[name="url"]').send_keys("https://ehr.example/documents/notes-1.pdf")
    command(browser, "information-form", "Record documents")
    assert status(browser) == "in-review"

    form = browser.find("#determination-form")
    first, second = form.find_elements(By.CSS_SELECTOR, "fieldset[data-item-sequence]")
    Select(first.find_element(By.NAME, "decision")).select_by_value("approved")
    Select(second.find_element(By.NAME, "decision")).select_by_value("denied")
    reasons = [o.get_attribute("value") for o in browser.all("#reason-codes option")]
    assert "0U" in reasons  # the searchable list, from GET /reason-codes
    second.find_element(By.NAME, "reason_code").send_keys("0U")
    second.find_element(By.NAME, "reason_text").send_keys("Not medically necessary per the policy")
    browser.screenshot("case-determination")
    command(browser, "determination-form", "Record determination")
    assert status(browser) in ("decided", "delivered")

    response = browser.wait(lambda d: "A3" in browser.find("#claimresponse").text and browser.find("#claimresponse"),
                            "the ClaimResponse shows no A3")
    assert "A1" in response.text and "A3" in response.text
    browser.find("#claimresponse-raw-toggle").click()
    raw = json.loads(browser.find("#claimresponse-raw").text)
    assert raw["resourceType"] == "ClaimResponse" and raw["id"] == case_id
    assert raw == as_reviewer()("GET", f"/cases/{case_id}/claimresponse").json()
    timeline = browser.find("#timeline").text
    for step in ("received", "assigned", "in-review", "information-requested", "decided"):
        assert step in timeline
    browser.screenshot("case")
    browser.screenshot("case", PHONE)
    assert browser.accessibility_violations() == []


def test_a_document_opens_through_its_presigned_link(browser, partner_api):
    case_id = submit(partner_api, supporting=b"%PDF-1.4 the notes\n%%EOF\n")
    browser.sign_in("nurse-demo", f"/console/cases/{case_id}")
    before = set(browser.driver.window_handles)
    browser.expect_error("/favicon.ico")  # the document's tab asks S3 (moto here) for one
    browser.find("#documents").find_element(By.CSS_SELECTOR, "button, a").click()
    browser.wait(lambda d: browser.all("#documents a[href*='X-Amz-Signature']"), "no presigned link")
    url = browser.all("#documents a[href*='X-Amz-Signature']")[0].get_attribute("href")
    assert requests.get(url, timeout=10).content == b"%PDF-1.4 the notes\n%%EOF\n"
    for handle in set(browser.driver.window_handles) - before:  # the tab it opened
        browser.driver.switch_to.window(handle)
        browser.driver.close()
    browser.driver.switch_to.window(before.pop())


def test_an_api_refusal_is_shown_next_to_the_field_it_names(browser, partner_api):
    case_id = submit(partner_api, items=2)
    browser.sign_in("dr-demo", f"/console/cases/{case_id}")
    command(browser, "assign-me-form", "Assign to me")
    command(browser, "start-form", "Start review")
    form = browser.find("#determination-form")
    first, second = form.find_elements(By.CSS_SELECTOR, "fieldset[data-item-sequence]")
    Select(first.find_element(By.NAME, "decision")).select_by_value("approved")
    Select(second.find_element(By.NAME, "decision")).select_by_value("denied")  # and no reason code
    browser.expect_error("/determination")
    browser.button("Record determination", "#determination-form").click()
    error = browser.wait(lambda d: [e for e in second.find_elements(By.CSS_SELECTOR, ".field-error") if e.text.strip()],
                         "the refusal is not beside item 2's field")[0]
    assert "needs an X12 HCR03 reason code" in error.text  # the API's own words, beside its field
    code = second.find_element(By.NAME, "reason_code")
    assert code.get_attribute("aria-invalid") == "true"
    assert error.get_attribute("id") in (code.get_attribute("aria-describedby") or "")
    assert not [e for e in first.find_elements(By.CSS_SELECTOR, ".field-error") if e.text.strip()]
    assert status(browser) == "in-review"


# ---- safety ------------------------------------------------------------------------------------------

def test_a_hostile_member_name_is_shown_as_text(browser, partner_api):
    case_id = submit(partner_api, family=XSS)
    hook = browser.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {  # an alert would be recorded
        "source": "window.__alerted = false; window.alert = () => { window.__alerted = true; };"})
    browser.sign_in("nurse-demo", f"/console/cases/{case_id}")
    browser.driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", hook)
    browser.find("#member-show").click()
    member = browser.wait(lambda d: XSS in browser.find("#member").text and browser.find("#member"), "name not shown")
    assert member.find_elements(By.TAG_NAME, "img") == [] and browser.all("main img") == []
    assert browser.driver.execute_script("return window.__alerted") is False
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        browser.driver.switch_to.alert.text  # no dialog opened


# ---- the stale version -------------------------------------------------------------------------------

def test_a_stale_version_says_so_and_reloads(browser, partner_api, as_reviewer):
    case_id = submit(partner_api)
    browser.sign_in("nurse-demo", f"/console/cases/{case_id}")
    assert status(browser) == "received"
    changed = as_reviewer("lead-demo")("POST", f"/cases/{case_id}/priority", {"version": 1, "priority": "expedited"})
    assert changed.status_code == 200, changed.text  # someone else changed the case meanwhile
    browser.expect_error("/assignment")
    browser.button("Assign to me", "#assign-me-form").click()
    stale = browser.find("#stale")
    assert "changed" in stale.text.lower()
    browser.find("#stale-reload").click()
    browser.wait(lambda d: not browser.all("#stale") and "expedited" in browser.find("#summary").text,
                 "the reload did not show the case as it is now")
    command(browser, "assign-me-form", "Assign to me")
    assert status(browser) == "assigned"


# ---- operations ------------------------------------------------------------------------------------

def test_operations_lists_a_refused_hl7_message_and_redrives_a_dead_letter(browser, stack, partner_api, as_reviewer, payer):
    refused = h.rqa(ref="OPS1", control_id="OPS-AR-1", facility="BROWSER").replace("RQA^I08^RQA_I08", "RQA^I99^RQA_I08")
    ack = requests.post(f"{stack.base_url}/hl7v2", data=refused.encode(), timeout=30, headers={
        "Authorization": "Bearer token-browser", "Content-Type": "x-application/hl7-v2+er7"}).text
    assert "|AR|" in ack
    dead = submit(partner_api, partner=payer.partner)
    dr = as_reviewer("dr-demo")
    assert dr("POST", f"/cases/{dead}/assignment", {"version": 1, "reviewer": "dr-demo"}).status_code == 200
    assert dr("POST", f"/cases/{dead}/start", {"version": 2}).status_code == 200
    decided = dr("POST", f"/cases/{dead}/determination", {"version": 3, "decisions": [
        {"item_sequence": 1, "decision": "approved"}]})
    assert decided.status_code == 200, decided.text
    lead = as_reviewer("lead-demo")
    deadline = time.monotonic() + 30
    while not [d for d in lead("GET", "/deliveries", None).json()["deliveries"] if d["case_id"] == dead and d["state"] == "dead"]:
        assert time.monotonic() < deadline, "the delivery never went dead"
        time.sleep(0.3)

    browser.sign_in("lead-demo", "/console/operations")
    line = browser.wait(lambda d: [r.text for r in browser.all("#messages tbody tr") if "OPS-AR-1" in r.text], "no AR line")[0]
    for shown in ("browser", "hl7-http", "RQA^I99", "AR"):
        assert shown in line
    dead_row = browser.wait(lambda d: [r.text for r in browser.all("#dead-deliveries tbody tr") if dead in r.text], "no dead row")[0]
    assert "fhir" in dead_row
    chart = browser.find("#partner-chart")
    assert "alpha" in chart.text or browser.all("#partner-counts")
    browser.screenshot("operations")
    browser.screenshot("operations", PHONE)
    assert browser.accessibility_violations() == []

    payer.fix()
    browser.find(f'#dead-deliveries button.redrive[data-case-id="{dead}"]').click()
    deadline = time.monotonic() + 30
    while lead("GET", f"/deliveries?case_id={dead}").json()["deliveries"][-1]["state"] != "delivered":
        assert time.monotonic() < deadline, "the redriven delivery was not delivered"
        time.sleep(0.3)
    browser.find("#operations-refresh").click()
    browser.wait(lambda d: not [r for r in browser.all("#dead-deliveries tbody tr") if dead in r.text],
                 "the redriven delivery is still listed as dead")
    payer.refuse()
