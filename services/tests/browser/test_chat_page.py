"""Headless Chromium uses the chat page the way a person does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait
from support.browser import chromium
from support.llm_stand_in import StandIn
from support.system import SystemFactory, wait_status

from ai_system.local.system import LocalSystem

pytestmark = pytest.mark.browser

TIMEOUT = 30


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


def open_chat(driver: webdriver.Chrome, url: str) -> str:
    """Load the page, wait until it is connected; return the session id it shows."""
    driver.get(url)
    wait = WebDriverWait(driver, TIMEOUT)
    wait.until(lambda d: d.find_element(By.ID, "status").get_attribute("data-state")
               == "connected")
    wait.until(lambda d: d.find_element(By.ID, "session-id").text not in ("", "—"))
    return driver.find_element(By.ID, "session-id").text


def ask(driver: webdriver.Chrome, question: str) -> WebElement:
    """Type and send a question; return its reply bubble once the master accepted it."""
    driver.find_element(By.ID, "query").send_keys(question)
    driver.find_element(By.ID, "send").click()
    return WebDriverWait(driver, TIMEOUT).until(
        lambda d: d.find_element(By.CSS_SELECTOR, ".exchange:last-child .message.reply")
        if d.find_element(By.CSS_SELECTOR, ".exchange:last-child .message.reply")
        .get_attribute("data-task-id") else None)


def meta(reply: WebElement) -> dict[str, str]:
    return {item.get_attribute("data-field"): item.find_element(By.CLASS_NAME, "meta-value").text
            for item in reply.find_elements(By.CSS_SELECTOR, ".meta .meta-item")}


def test_a_question_typed_in_the_page_is_answered_with_its_metadata(
        shared_system: LocalSystem, browser: webdriver.Chrome, artifacts: Path) -> None:
    open_chat(browser, shared_system.url + "/")
    # The offline provider quotes the question: markup in it must come back as text.
    question = "What is the capital of <b>Colombia</b>? <img src=x onerror=alert(1)>"
    reply = ask(browser, question)
    WebDriverWait(browser, TIMEOUT).until(
        lambda _: "answer" in (reply.get_attribute("class") or "").split())

    assert question in reply.find_element(By.CLASS_NAME, "message-text").text
    assert not browser.find_elements(By.CSS_SELECTOR, "#messages b, #messages img")
    fields = meta(reply)
    assert fields["worker"] in shared_system.workers
    assert fields["node"] not in ("", "?")
    assert fields["provider"] == "offline / offline-echo"
    assert fields["processing"].endswith(("ms", "s"))
    assert fields["queue-wait"].endswith(("ms", "s"))
    assert browser.find_element(By.ID, "query").get_attribute("value") == ""
    browser.save_screenshot(str(artifacts / "chat.png"))


def test_a_reloaded_page_keeps_its_session_and_gets_the_answer_that_came_meanwhile(
        system_factory: SystemFactory, browser: webdriver.Chrome) -> None:
    system = system_factory(workers=1, simulated_seconds=3)
    session_id = open_chat(browser, system.url + "/")
    reply = ask(browser, "Keep this for me")
    task_id = reply.get_attribute("data-task-id")
    browser.get("about:blank")  # the user leaves before the answer
    wait_status(system, lambda s: s["sessions"]["sessions_with_kept_results"] >= 1,
                "the master to keep the answer for the absent page")

    assert open_chat(browser, system.url + "/") == session_id
    answered = WebDriverWait(browser, TIMEOUT).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f'.message.answer[data-task-id="{task_id}"]'))
    # The answer lands under its own question, restored from the browser's storage.
    exchange = answered[0].find_element(By.XPATH, "..")
    assert exchange.find_element(By.CSS_SELECTOR, ".question").text == "Keep this for me"
    assert "Keep this for me" in answered[0].text


def answered(driver: webdriver.Chrome, reply: WebElement) -> WebElement:
    WebDriverWait(driver, TIMEOUT).until(
        lambda _: "answer" in (reply.get_attribute("class") or "").split())
    return reply


def outside(driver: webdriver.Chrome) -> list[str]:
    """The questions the page marks as outside the conversation the model sees."""
    return [e.find_element(By.CSS_SELECTOR, ".question").text
            for e in driver.find_elements(By.CSS_SELECTOR, ".exchange.outside-context")]


def test_the_model_sees_the_conversation_and_a_new_one_starts_afresh(
        system_factory: SystemFactory, browser: webdriver.Chrome, artifacts: Path) -> None:
    with StandIn("openai") as llm:
        # The stand-in answers from the messages it receives, as a model would.
        system = system_factory(workers=1, simulated_seconds=0, env={
            "LLM_PROVIDER": "openai", "OPENAI_API_KEYS": "sk-conversation",
            "LLM_BASE_URL": llm.base_url, "CONVERSATION_TURNS": "2"})
        open_chat(browser, system.url + "/")
        answered(browser, ask(browser, "My name is Ana."))
        reply = answered(browser, ask(browser, "What is my name?"))
        assert "Ana" in reply.find_element(By.CLASS_NAME, "message-text").text
        assert outside(browser) == []
        browser.save_screenshot(str(artifacts / "chat-conversation.png"))

        # Past the budget of two turns the first falls out, and the page says so.
        answered(browser, ask(browser, "And the weather?"))
        WebDriverWait(browser, TIMEOUT).until(lambda d: outside(d) == ["My name is Ana."])
        # A reload shows the conversation again, as the master keeps it.
        open_chat(browser, system.url + "/")
        WebDriverWait(browser, TIMEOUT).until(lambda d: outside(d) == ["My name is Ana."])
        assert len(browser.find_elements(By.CSS_SELECTOR, ".exchange")) == 3
        assert "2 questions" in browser.find_element(By.ID, "context-note").text

        browser.find_element(By.ID, "new-conversation").click()
        WebDriverWait(browser, TIMEOUT).until(
            lambda d: not d.find_elements(By.CSS_SELECTOR, ".exchange"))
        reply = answered(browser, ask(browser, "What is my name?"))
        assert "Ana" not in reply.find_element(By.CLASS_NAME, "message-text").text
        assert llm.seen[-1].body["messages"] == [{"role": "user", "content": "What is my name?"}]


def test_the_api_key_typed_in_the_page_is_kept_sent_and_never_shown(
        system_factory: SystemFactory, browser: webdriver.Chrome) -> None:
    key = "AIzaSy-typed-in-the-browser-0123456789"
    with StandIn("gemini") as gemini:
        # An offline worker sends users' keys to Gemini: here, the stand-in.
        system = system_factory(workers=1, simulated_seconds=0,
                                env={"LLM_BASE_URL": gemini.base_url})
        open_chat(browser, system.url + "/")
        # The field says which provider the key is for: the worker sends typed keys to Gemini.
        WebDriverWait(browser, TIMEOUT).until(lambda d: "for Gemini" in d.find_element(
            By.CSS_SELECTOR, "#key-panel summary").text)
        browser.find_element(By.CSS_SELECTOR, "#key-panel summary").click()
        browser.find_element(By.ID, "api-key").send_keys(key)
        reply = ask(browser, "Use my key, please")
        WebDriverWait(browser, TIMEOUT).until(
            lambda _: "answer" in (reply.get_attribute("class") or "").split())
        assert gemini.keys_seen == [key]

    assert meta(reply)["provider"].startswith("gemini")
    assert key not in browser.find_element(By.ID, "messages").text
    # Kept in this browser only: a reload still has it.
    open_chat(browser, system.url + "/")
    assert browser.find_element(By.ID, "api-key").get_attribute("value") == key


@pytest.mark.parametrize("stop", ["crash", "graceful"])
def test_a_question_asked_before_a_master_restart_is_answered_after_it(
        system_factory: SystemFactory, browser: webdriver.Chrome, stop: str) -> None:
    """A crash drops the connection; a graceful stop (an update) sends the page away, after
    which Socket.IO does not reconnect by itself: the page must come back either way."""
    system = system_factory(workers=1, simulated_seconds=3)
    assert system.master is not None
    open_chat(browser, system.url + "/")
    reply = ask(browser, "Will you survive a restart?")
    WebDriverWait(browser, TIMEOUT).until(lambda _: reply.get_attribute("data-task-id"))
    if stop == "crash":
        system.master.kill()
    else:
        assert system.master.stop() == 0
    system.start_master(wait=True)

    # The page reconnects by itself; the new master, rebuilt from the journal, answers.
    WebDriverWait(browser, TIMEOUT).until(
        lambda _: "answer" in (reply.get_attribute("class") or "").split())
    assert "Will you survive a restart?" in reply.find_element(By.CLASS_NAME, "message-text").text


def test_a_question_whose_record_was_lost_is_reported_not_left_spinning(
        system_factory: SystemFactory, browser: webdriver.Chrome, tmp_path: Path) -> None:
    system = system_factory(workers=1, simulated_seconds=30)
    assert system.master is not None
    open_chat(browser, system.url + "/")
    reply = ask(browser, "Will you survive losing your journal?")
    WebDriverWait(browser, TIMEOUT).until(lambda _: reply.get_attribute("data-task-id"))
    system.master.kill()
    system.state_dir = tmp_path / "another-state"  # the journal is gone
    system.start_master(wait=True)

    # The page sees another master (a new session, a new journal): the answer cannot come.
    WebDriverWait(browser, TIMEOUT).until(
        lambda _: "error" in (reply.get_attribute("class") or "").split())
    assert "cannot arrive" in reply.find_element(By.CLASS_NAME, "message-text").text


MARKDOWN_QUESTION = ("Format this, please:\n\n## Steps\n\n- **one**\n- two\n\n"
                     "```python\nprint('hi')\n```\n\nand <script>alert(1)</script> stays text.")


def test_an_answer_is_rendered_as_markdown_with_a_copyable_code_block(
        system_factory: SystemFactory, browser: webdriver.Chrome, artifacts: Path) -> None:
    with StandIn("openai") as llm:  # it answers "stand-in answer: <the question>"
        system = system_factory(workers=1, simulated_seconds=0, env={
            "LLM_PROVIDER": "openai", "OPENAI_API_KEYS": "k", "LLM_BASE_URL": llm.base_url})
        open_chat(browser, system.url + "/")
        # Typed with Shift+Enter between lines; set directly here, as the page reads it.
        browser.execute_script(
            "const q = document.getElementById('query'); q.value = arguments[0];"
            "q.dispatchEvent(new Event('input'));", MARKDOWN_QUESTION)
        browser.find_element(By.ID, "send").click()
        reply = WebDriverWait(browser, TIMEOUT).until(
            lambda d: d.find_element(By.CSS_SELECTOR, ".exchange:last-child .message.reply.answer")
            if d.find_elements(By.CSS_SELECTOR, ".exchange:last-child .message.reply.answer")
            else None)
    text = reply.find_element(By.CLASS_NAME, "markdown")
    assert text.find_element(By.TAG_NAME, "h2").text == "Steps"
    assert [li.text for li in text.find_elements(By.TAG_NAME, "li")] == ["one", "two"]
    assert text.find_element(By.CSS_SELECTOR, "li strong").text == "one"
    code = text.find_element(By.CSS_SELECTOR, "pre code")
    assert code.text == "print('hi')"
    assert text.find_element(By.CSS_SELECTOR, "pre button.copy").text == "Copy"
    # Markup in the answer is shown, not run.
    assert "<script>alert(1)</script>" in text.text
    assert not browser.find_elements(By.CSS_SELECTOR, "#messages script")
    browser.save_screenshot(str(artifacts / "chat-markdown.png"))


def test_a_banner_says_when_the_server_is_unreachable(
        system_factory: SystemFactory, browser: webdriver.Chrome) -> None:
    system = system_factory(workers=1, simulated_seconds=0)
    assert system.master is not None
    open_chat(browser, system.url + "/")
    WebDriverWait(browser, TIMEOUT).until(
        lambda d: "1 worker online" in d.find_element(By.ID, "system-strip").text)
    assert not browser.find_element(By.ID, "banner").is_displayed()
    system.master.kill()
    WebDriverWait(browser, TIMEOUT).until(
        lambda d: d.find_element(By.ID, "banner").is_displayed())
    assert "unreachable" in browser.find_element(By.ID, "banner").text
    system.start_master(wait=True)
    WebDriverWait(browser, TIMEOUT).until(
        lambda d: not d.find_element(By.ID, "banner").is_displayed())


def test_a_streamed_answer_grows_in_the_page_then_becomes_the_answer(
        system_factory: SystemFactory, browser: webdriver.Chrome, artifacts: Path) -> None:
    with StandIn("openai") as llm:
        llm.stream_pause_seconds = 0.4  # a word every 0.4 s: slow enough to be seen
        system = system_factory(workers=1, simulated_seconds=0, env={
            "LLM_PROVIDER": "openai", "OPENAI_API_KEYS": "k", "LLM_BASE_URL": llm.base_url})
        open_chat(browser, system.url + "/")
        reply = ask(browser, "Tell me slowly about streaming answers")
        wait = WebDriverWait(browser, TIMEOUT)
        # Read in one step each time: the page redraws the streamed text as it grows.
        wait.until(lambda _: len(partial_text(reply).split()) >= 3)
        growing = partial_text(reply)
        assert growing.startswith("stand-in answer:")
        assert "streaming answers" not in growing  # not finished yet
        browser.save_screenshot(str(artifacts / "chat-streaming.png"))
        wait.until(lambda _: "answer" in (reply.get_attribute("class") or "").split())
    final = reply.find_element(By.CLASS_NAME, "markdown").text
    assert final == "stand-in answer: Tell me slowly about streaming answers"
    assert not reply.find_elements(By.CSS_SELECTOR, ".partial, .cursor")
    browser.save_screenshot(str(artifacts / "chat-streamed.png"))


def text_in(reply: WebElement, selector: str) -> str:
    """The text of a part of the reply, read in one step: the page redraws its streamed text
    and the note after it every second, so an element found first may be gone a moment later."""
    return str(reply.parent.execute_script(
        "const e = arguments[0].querySelector(arguments[1]); return e ? e.textContent : '';",
        reply, selector))


def partial_text(reply: WebElement) -> str:
    """The streamed text so far."""
    return text_in(reply, ".partial")


def test_after_its_streamed_text_the_page_says_the_worker_still_works(
        system_factory: SystemFactory, browser: webdriver.Chrome) -> None:
    # The offline provider writes its answer at once; the simulated work follows.
    system = system_factory(workers=1, simulated_seconds=4)
    open_chat(browser, system.url + "/")
    reply = ask(browser, "Are you still there?")
    wait = WebDriverWait(browser, TIMEOUT)
    note = wait.until(lambda _: "Still working" in text_in(reply, ".still-working")
                      and text_in(reply, ".still-working"))
    assert "so far" in note and "Are you still there?" in partial_text(reply)
    wait.until(lambda _: "answer" in (reply.get_attribute("class") or "").split())
    assert not reply.find_elements(By.CLASS_NAME, "still-working")


def test_chunks_lost_while_the_page_reconnects_leave_a_gap_and_the_text_goes_on(
        system_factory: SystemFactory, browser: webdriver.Chrome) -> None:
    question = "Tell me " + " ".join(f"w{i}" for i in range(40))  # 43 words, one per 0.3 s
    with StandIn("openai") as llm:
        llm.stream_pause_seconds = 0.3
        system = system_factory(workers=1, simulated_seconds=5, env={
            "LLM_PROVIDER": "openai", "OPENAI_API_KEYS": "k", "LLM_BASE_URL": llm.base_url})
        open_chat(browser, system.url + "/")
        reply = ask(browser, question)
        wait = WebDriverWait(browser, TIMEOUT)
        wait.until(lambda _: len(partial_text(reply).split()) >= 4)
        # The page's network drops for a moment: what the master emitted meanwhile is lost.
        offline = {"offline": True, "latency": 0, "downloadThroughput": -1,
                   "uploadThroughput": -1}
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", offline)
        wait.until(lambda d: d.find_element(By.ID, "status").get_attribute("data-state")
                   != "connected")
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", {**offline, "offline": False})
        # Reconnected, the text grows again past a visible gap, to its last word.
        wait.until(lambda _: "…" in partial_text(reply)
                   and partial_text(reply).rstrip().endswith("w39"))
        wait.until(lambda _: "answer" in (reply.get_attribute("class") or "").split())
    assert reply.find_element(By.CLASS_NAME, "markdown").text == f"stand-in answer: {question}"


def test_an_over_long_question_is_refused_with_a_message_not_cut(
        shared_system: LocalSystem, browser: webdriver.Chrome) -> None:
    open_chat(browser, shared_system.url + "/")
    box = browser.find_element(By.ID, "query")
    limit = int(box.get_attribute("data-max-chars") or 0)
    box.send_keys("x" * (limit + 100))
    assert len(box.get_attribute("value") or "") == limit + 100  # nothing cut silently
    warning = browser.find_element(By.ID, "too-long")
    assert warning.is_displayed()
    assert f"{limit + 100} characters" in warning.text and str(limit) in warning.text
    assert not browser.find_element(By.ID, "send").is_enabled()
    box.send_keys(Keys.BACKSPACE * 100)
    assert not warning.is_displayed() and browser.find_element(By.ID, "send").is_enabled()


def test_the_status_strip_counts_the_question_the_page_says_is_queued(
        system_factory: SystemFactory, browser: webdriver.Chrome) -> None:
    system = system_factory(workers=1, simulated_seconds=5)
    open_chat(browser, system.url + "/")
    WebDriverWait(browser, TIMEOUT).until(
        lambda d: "1 worker online" in d.find_element(By.ID, "system-strip").text)
    ask(browser, "First, for the only worker")
    second = ask(browser, "Second, to wait")
    WebDriverWait(browser, TIMEOUT).until(lambda _: "Queued: position 1" in second.text)
    strip = browser.find_element(By.ID, "system-strip").text
    assert "0 waiting" not in strip and "1 waiting" in strip, strip
