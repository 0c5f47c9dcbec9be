"""The status page at / in a real browser: Debian's Chromium, headless, driven by selenium through
Debian's chromedriver (scripts/install-test-deps.sh installs both), against the real binary, its
central API test server and remote ones (conftest.py's `central`, `remotes`, `services`).

The page holds no data: it asks for a token, then reads GET /sites and GET /status with it every
5 seconds. These tests check that it shows a live service's sites and a site going down within
two refreshes, that a rejected token says why and lets another be entered, that what remote input
names is shown as text, that the token lands in no URL, cookie or storage a new tab sees, and that
the browser saw no Content-Security-Policy violation.

Chromium is told to use a proxy on a closed loopback port: the service (on loopback, which
bypasses proxies) is the only place it can reach, whatever background request it might try.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import time

import pytest
import yaml
from kubeapi import ADMIN_TOKEN, NOBODY_TOKEN
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By

from loopback import wait_until
from managed import BOOTSTRAP_USER, ca_data, managed_body, put_json, sites
from redaction import redact
from support import CONFIGMAP, NAMESPACE

REFRESH_SECONDS = 5  # the page's REFRESH_SECONDS
TOKEN_KEY = "kubeconfig-service.token"  # the page's sessionStorage key


@pytest.fixture
def browser(monkeypatch):
    """Headless Chromium with its console log kept; quit after the test."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and chromedriver, "chromium and chromium-driver are missing: run scripts/install-test-deps.sh"
    # Selenium asks its own driver manager (which may download) only for what it is not given.
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = Options()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000", "--no-first-run", "--no-default-browser-check",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-extensions", "--disable-default-apps", "--no-pings",
                     "--proxy-server=127.0.0.1:9"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=DriverService(executable_path=chromedriver))
    driver.set_page_load_timeout(15)
    yield driver
    driver.quit()


# MARK: - Helpers


def page_url(service) -> str:
    return f"http://127.0.0.1:{service.port}/"


def enter_token(driver, token: str) -> None:
    assert wait_until(lambda: driver.find_element(By.ID, "token").is_displayed(), timeout=5) is not None
    field = driver.find_element(By.ID, "token")
    field.clear()
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()


# The page redraws its tables at every refresh, so an element found one moment may be gone the
# next: what the tests read, they read in one script.
SHOWN = """
const sites = {};
for (const row of document.querySelectorAll('#sites tr[data-site]')) {
  sites[row.dataset.site] = {state: row.querySelector('td.state').innerText, text: row.innerText};
}
const marks = {};
for (const row of document.querySelectorAll('#axis .axis-row[data-site]')) {
  marks[row.dataset.site] = Array.from(row.querySelectorAll('.mark'), (mark) => mark.className);
}
return {sites, marks, lapses: Array.from(document.querySelectorAll('#lapses tr'), (row) => row.innerText),
        first: document.querySelectorAll('#axis .mark.first').length};
"""


def shown(driver) -> dict:
    """The Sites table by site name ({state, text}), the axis' marks' classes by site name, the
    rows of the lapses table, and how many marks are marked first."""
    return driver.execute_script(SHOWN)


def state_of(driver, site: str) -> str | None:
    """The text of a site's State cell, None while the site is not shown."""
    return (shown(driver)["sites"].get(site) or {}).get("state")


def row_text(driver, site: str) -> str:
    return shown(driver)["sites"][site]["text"]


def message(driver) -> str:
    element = driver.find_element(By.ID, "message")
    return element.text if element.is_displayed() else ""


def csp_violations(driver) -> list[str]:
    """The browser log's Content-Security-Policy complaints since the last call."""
    return [entry["message"] for entry in driver.get_log("browser")
            if "Content Security Policy" in entry["message"] or "Content-Security-Policy" in entry["message"]]


def wait_for(condition, timeout: float, what: str, driver) -> float:
    """Seconds until `condition()` held; fails with what the page showed otherwise."""
    waited = wait_until(condition, timeout=timeout, interval=0.2)
    if waited is None:
        body = driver.find_element(By.TAG_NAME, "body").text
        pytest.fail(f"{what} not within {timeout} s; the page showed:\n{redact(body)}")
    return waited


def jwt_expiring(subject: str, expires: int) -> str:
    """A random JWT-shaped token (unsigned) whose payload says when it expires."""
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    return ".".join([part({"alg": "none"}), part({"sub": subject, "exp": expires, "nonce": secrets.token_hex(8)}),
                     secrets.token_urlsafe(24)])


# MARK: - Tests


def test_the_page_shows_the_sites_of_a_live_service_and_a_site_going_down(central, remotes, services, browser):
    service = services()
    managed, static = remotes("a"), remotes("b")
    # A bootstrap credential that says when it expires (a JWT's exp), as TokenRequest's do.
    bootstrap_expiry = int(time.time()) + 30 * 86400
    bootstrap = jwt_expiring("bootstrap-a", bootstrap_expiry)
    managed.add_identity(BOOTSTRAP_USER, token=bootstrap)
    created = put_json(service, "site-a", managed_body(managed, bootstrap))
    assert created.status == 201, redact(created.text)
    deployer_token = static.create_token("apps", "deployer", expiration_seconds=3600)
    created = put_json(service, "site-b", {"server": static.url, "certificateAuthorityData": ca_data(static),
                                           "namespace": "apps", "token": deployer_token})
    assert created.status == 201, redact(created.text)
    healthy = wait_until(lambda: all((sites(service)[name].get("health") or {}).get("authenticated")
                                     for name in ("site-a", "site-b")), timeout=15)
    assert healthy is not None, redact(json.dumps(sites(service)))

    browser.get(page_url(service))
    history = browser.execute_script("return history.length")
    enter_token(browser, ADMIN_TOKEN)
    wait_for(lambda: state_of(browser, "site-a") == "✔ up" and state_of(browser, "site-b") == "✔ up",
             2 * REFRESH_SECONDS, "both remote sites shown up", browser)
    assert state_of(browser, "central") is not None
    assert "central (this service)" in row_text(browser, "central")
    assert "token, managed, renews in" in row_text(browser, "site-a")
    assert "token, static" in row_text(browser, "site-b")
    assert "system:serviceaccount:apps:deployer" in row_text(browser, "site-b")
    # Every site's expiries on the one axis, and listed soonest first.
    page = shown(browser)
    for name in ("site-a", "site-b"):
        for lane in ("token", "certificate-authority"):
            assert any(f"lane-{lane}" in mark for mark in page["marks"][name]), (name, lane, page["marks"])
    # The managed site's bootstrap credential's expiry too, as /sites reports it.
    assert sites(service)["site-a"]["bootstrapExpiresAt"] == time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                           time.gmtime(bootstrap_expiry))
    assert any("lane-bootstrap" in mark for mark in page["marks"]["site-a"]), page["marks"]
    assert not any("lane-bootstrap" in mark for mark in page["marks"]["site-b"]), page["marks"]
    assert page["first"] == 1
    assert any("◀ first: token expires" in row for row in page["lapses"]), page["lapses"]
    assert browser.find_element(By.ID, "publication-state").text.startswith("✔ published")
    refreshed = browser.find_element(By.ID, "refreshed").text
    assert refreshed.startswith("Last refresh: ") and f"(every {REFRESH_SECONDS} s)" in refreshed, refreshed

    # A site going down: its API server stops; the next probe (every second) finds it
    # unreachable, and the page shows it within two refreshes while the other stays up.
    static.stop()
    waited = wait_for(lambda: (state_of(browser, "site-b") or "").startswith("✖ down"), 2 * REFRESH_SECONDS + 1,
                      "site-b shown down", browser)
    print(f"site-b shown down {waited:.1f} s after its API server stopped")
    assert state_of(browser, "site-a") == "✔ up"
    assert "probe: " in row_text(browser, "site-b")

    # The token is in no URL the browser went to or fetched, in no cookie, in no localStorage.
    assert browser.current_url == page_url(service)
    visited = browser.execute_script(
        "return performance.getEntries().map((entry) => entry.name).concat([location.href, document.referrer])")
    assert any(url.endswith("/sites") for url in visited) and not any(ADMIN_TOKEN in url for url in visited)
    assert browser.execute_script("return history.length") == history  # entering the token navigated nowhere
    assert browser.execute_script("return document.cookie") == ""
    assert browser.execute_script("return window.localStorage.length") == 0
    assert browser.execute_script(f"return sessionStorage.getItem('{TOKEN_KEY}')") == ADMIN_TOKEN
    # A new tab is a new session: it has no token, and asks for one.
    browser.switch_to.new_window("tab")
    browser.get(page_url(service))
    assert wait_until(lambda: browser.find_element(By.ID, "token").is_displayed(), timeout=5) is not None
    assert browser.execute_script(f"return sessionStorage.getItem('{TOKEN_KEY}')") is None
    assert browser.execute_script("return window.localStorage.length") == 0

    assert csp_violations(browser) == []
    # The log does show a violation when there is one: a style the policy does not name.
    browser.execute_script("document.head.appendChild(document.createElement('style')).textContent = 'p {}'")
    assert wait_until(lambda: csp_violations(browser), timeout=5) is not None


def test_a_rejected_token_says_why_and_another_can_be_entered(central, services, browser):
    service = services(credentials=False)
    browser.get(page_url(service))

    enter_token(browser, "not-a-token-of-this-cluster")
    wait_for(lambda: "401" in message(browser), 2 * REFRESH_SECONDS, "the 401 message", browser)
    text = message(browser)
    assert text.startswith("The token was rejected (401): check it is a token for this service's audience"), text
    assert "The service said: Unauthorized: " in text
    assert browser.find_element(By.ID, "token").is_displayed()
    assert browser.execute_script(f"return sessionStorage.getItem('{TOKEN_KEY}')") is None

    enter_token(browser, NOBODY_TOKEN)
    wait_for(lambda: "403" in message(browser), 2 * REFRESH_SECONDS, "the 403 message", browser)
    text = message(browser)
    assert text.startswith("403: the token's account may not read /sites"), text
    assert browser.find_element(By.ID, "token").is_displayed()

    enter_token(browser, ADMIN_TOKEN)
    wait_for(lambda: state_of(browser, "central") is not None, 2 * REFRESH_SECONDS, "the sites", browser)
    assert message(browser) == ""
    assert not browser.find_element(By.ID, "token").is_displayed()
    assert csp_violations(browser) == []


def test_what_remote_input_names_is_shown_as_text(central, services, browser):
    # Another writer's entry in the document: a name and a server that are markup.
    hostile = '<img src=x onerror="document.title=\'injected\'"><b id="injected">bold</b>'
    document = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "hostile", "cluster": {"server": "https://127.0.0.1:9/<i id='injected-server'>"}}],
        "users": [{"name": "hostile", "user": {"token": "t"}}],
        "contexts": [{"name": hostile, "context": {"cluster": "hostile", "user": "hostile"}}],
    }
    central.put_configmap(NAMESPACE, CONFIGMAP, {"kubeconfig": yaml.safe_dump(document)})
    service = services(credentials=False)
    browser.get(page_url(service))
    title = browser.title
    enter_token(browser, ADMIN_TOKEN)
    wait_for(lambda: (state_of(browser, hostile) or "").startswith("✖"), 2 * REFRESH_SECONDS + 1,
             "the hostile site, probed and down", browser)
    text = row_text(browser, hostile)
    assert hostile in text and "<i id='injected-server'>" in text
    assert browser.find_elements(By.CSS_SELECTOR, "#injected, #injected-server, #sites img") == []
    time.sleep(0.5)  # an onerror would have run by now
    assert browser.title == title
    assert csp_violations(browser) == []
