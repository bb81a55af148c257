"""The article editor in Chromium: the SEO title streams into its field and the save
keeps it; a slow model's rewrite shows in the preview before it has finished; the
usage page finds the result again."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from accounts.tests.factories import UserFactory
from articles.actions import ACTIONS
from articles.models import Article
from articles.tests.factories import ArticleFactory
from tokens.models import TokenUsage
from volx.tests.browser.test_user_journey import ARTICLE, PASSWORD, badge, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_seo_title_is_generated_into_its_field_and_saved(site, browser, wait_for, screenshot):
    user = UserFactory(username="lan", email="lan@example.com", password=PASSWORD)
    article = ArticleFactory(user=user, title="SEO basics", content=ARTICLE)
    log_in(browser, site, "lan")
    browser.get(f"{site.url}/articles/{article.pk}/")
    seo_title = wait_for("#seo-title")
    assert seo_title.get_attribute("value") == ""

    browser.find_element(By.CSS_SELECTOR, '[data-action="generate-seo-title"]').click()

    WebDriverWait(browser, 15).until(lambda _: seo_title.get_attribute("value"))
    WebDriverWait(browser, 15).until(lambda _: badge(browser) == "⚡ 9,700 Token")
    generated = seo_title.get_attribute("value")
    assert 0 < len(generated) <= 60
    usage = TokenUsage.objects.get(user=user)
    assert (usage.action, usage.article_id, usage.result) == (
        "generate_seo_title",
        article.pk,
        generated,
    )
    assert browser.find_element(By.ID, "unsaved-note").is_displayed()
    screenshot("seo-title-generated")

    browser.find_element(By.ID, "save-article").click()  # no unsaved-changes prompt

    WebDriverWait(browser, 10).until(lambda _: "Article saved." in browser.page_source)
    assert Article.objects.get(pk=article.pk).seo_title == generated
    assert wait_for("#seo-title").get_attribute("value") == generated

    # The result is found again on the usage page, with a copy button.
    browser.get(f"{site.url}/usage/")
    row = wait_for(f"#usage-result-{usage.pk}")
    assert row.text == generated
    browser.find_element(By.CSS_SELECTOR, f'[data-copy-target="#usage-result-{usage.pk}"]')
    screenshot("usage-with-result")


def test_leaving_with_unsaved_changes_asks_first(site, browser, wait_for):
    user = UserFactory(username="hoa", email="hoa@example.com", password=PASSWORD)
    article = ArticleFactory(user=user, content=ARTICLE)
    log_in(browser, site, "hoa")
    browser.get(f"{site.url}/articles/{article.pk}/")
    # Headless Chromium leaves pages without showing the prompt, so the test asks the
    # page what a browser asks it: does it cancel leaving (beforeunload)?
    leaving_is_stopped = (
        "var event = new Event('beforeunload', {cancelable: true});"
        "window.dispatchEvent(event); return event.defaultPrevented;"
    )
    assert browser.execute_script(leaving_is_stopped) is False  # nothing changed yet

    wait_for("#article-title").send_keys(" (draft)")

    assert browser.execute_script(leaving_is_stopped) is True
    assert browser.find_element(By.ID, "unsaved-note").is_displayed()


@pytest.mark.parametrize("width", [1280, 390])
def test_a_streamed_rewrite_shows_in_the_preview_before_the_model_finishes(
    start_site, chat, browser, wait_for, screenshot, width
):
    browser.set_window_size(width, 844)
    site = start_site(AI_PROVIDER="openai", AI_BASE_URL=chat.base_url, AI_TIMEOUT="20")
    user = UserFactory(username="thu", email="thu@example.com", password=PASSWORD)
    article = ArticleFactory(user=user, content=ARTICLE)
    log_in(browser, site, "thu")
    browser.get(f"{site.url}/articles/{article.pk}/")
    content = wait_for("#article-content")
    # Select the first sentence: the rewrite replaces only it.
    first = ARTICLE.split(". ")[0] + "."
    browser.execute_script(f"arguments[0].setSelectionRange(0, {len(first)});", content)

    browser.find_element(By.CSS_SELECTOR, '[data-action="rewrite"]').click()

    preview = wait_for("#rewrite-preview")
    WebDriverWait(browser, 10).until(lambda _: preview.text.startswith("Fast wallets"))
    assert "word by word." not in preview.text  # shown while the model still writes
    assert "streaming" in preview.get_attribute("class")
    assert not browser.find_element(By.ID, "rewrite-accept").is_enabled()
    screenshot(f"rewrite-streaming-{width}")

    accept = browser.find_element(By.ID, "rewrite-accept")
    WebDriverWait(browser, 20).until(lambda _: accept.is_enabled())
    assert preview.text == "Fast wallets for slow models, word by word."
    cost = ACTIONS["rewrite"].cost(first)
    assert badge(browser) == f"⚡ {10_000 - cost:,} Token"
    accept.click()

    assert content.get_attribute("value") == (
        "Fast wallets for slow models, word by word." + ARTICLE[len(first) :]
    )
    assert Article.objects.get(pk=article.pk).content == ARTICLE  # not saved yet
    screenshot(f"rewrite-accepted-{width}")
