"""The tools page streams: a slow model's text appears as it is written
(docs/rules.md, Streaming and clients that leave)."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from accounts.tests.factories import UserFactory
from articles.actions import ACTIONS
from volx.tests.browser.test_user_journey import PASSWORD, badge, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXT = "Slow models need fast wallets. A writer waits for every word, so every word counts."


@pytest.mark.parametrize("width", [1280, 390])
def test_rewrite_text_appears_before_the_model_has_finished(
    start_site, chat, browser, wait_for, screenshot, width
):
    browser.set_window_size(width, 844)
    site = start_site(AI_PROVIDER="openai", AI_BASE_URL=chat.base_url, AI_TIMEOUT="20")
    UserFactory(username="thu", email="thu@example.com", password=PASSWORD)
    log_in(browser, site, "thu")
    browser.get(f"{site.url}/tools/")
    wait_for("#tools-text").send_keys(TEXT)

    browser.find_element(By.ID, "action-rewrite").click()

    result = browser.find_element(By.ID, "tools-result")

    WebDriverWait(browser, 10).until(lambda _: result.text.startswith("Fast wallets"))
    # The first piece is shown while the model is still writing the rest.
    assert "word by word." not in result.text
    assert "streaming" in result.get_attribute("class")
    screenshot(f"streaming-{width}")

    WebDriverWait(browser, 20).until(lambda _: "streaming" not in result.get_attribute("class"))
    assert result.text == "Fast wallets for slow models, word by word."
    cost = ACTIONS["rewrite"].cost(TEXT)
    assert badge(browser) == f"⚡ {10_000 - cost:,} Token"
    assert f"Used {cost} tokens" in browser.find_element(By.ID, "tools-status").text
    screenshot(f"streamed-{width}")
