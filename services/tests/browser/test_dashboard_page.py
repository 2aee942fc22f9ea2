"""Headless Chromium signs in to the operator's dashboard and watches the system work."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from support.browser import chromium, texts
from support.chat import ChatClient
from support.system import SystemFactory

pytestmark = pytest.mark.browser

TIMEOUT = 30


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


def test_the_dashboard_shows_two_workers_and_a_finished_task(
        system_factory: SystemFactory, browser: webdriver.Chrome, artifacts: Path) -> None:
    system = system_factory(workers=2, simulated_seconds=0)
    browser.get(system.url + "/dashboard")
    assert "operator token" in browser.page_source
    browser.find_element(By.ID, "token").send_keys("not the token")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait = WebDriverWait(browser, TIMEOUT)
    error = wait.until(lambda d: d.find_elements(By.CLASS_NAME, "error"))[0]
    assert "not the operator token" in error.text

    token = (system.state_dir / "operator.token").read_text().strip()
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: d.find_element(By.ID, "link").get_attribute("data-state") == "ok")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#workers tr[data-worker]")) == 2)

    with ChatClient(system.url) as user:
        user.wait_answer(user.ask("Watch me on the dashboard")["task_id"])
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#tasks [data-outcome=answered]"))
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "[data-counter=answered] .value")
               .text == "1")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#log .log-line"))
    # The pushes after the first carry only what is new: each start-up line shows once.
    lines = texts(browser, "#log .log-line")
    assert len(lines) == len(set(lines)), lines
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#chart-queue polyline"))
    wait.until(lambda d: texts(d, "#workers tr[data-worker] .state") == ["idle", "idle"])
    assert "Watch me on the dashboard" not in browser.page_source
    browser.save_screenshot(str(artifacts / "dashboard.png"))

    # Signed out, the page is closed again.
    browser.find_element(By.CSS_SELECTOR, ".bar form button").click()
    wait.until(lambda d: d.find_elements(By.ID, "token"))
