"""Every page a signed-in user reaches, in English and Vietnamese, on a desktop and at
390×844: none is wider than the window (nothing scrolls sideways), and each is saved as
a screenshot (artifacts/screenshots/, and SHOTS_DIR when set) to be looked at."""

import os
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from accounts.tests.factories import UserFactory
from articles.tests.factories import ArticleFactory
from payments.tests.factories import PaymentFactory
from tokens.wallet import Wallet
from volx.tests.browser.conftest import SCREENSHOTS, _save_full_page
from volx.tests.browser.test_user_journey import ARTICLE, PASSWORD, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = {
    "dashboard": "/dashboard/",
    "tools": "/tools/",
    "plans": "/plans/",
    "upgrade": "/plans/starter/upgrade/",
    "payments": "/payments/",
    "usage": "/usage/",
    "articles": "/articles/",
    "new-article": "/articles/new/",
    "editor": "/articles/{article}/",
}
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


def shots_folder() -> Path:
    folder = Path(os.environ.get("SHOTS_DIR") or SCREENSHOTS / "phone-pages")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def width_overflow(browser) -> int:
    """How far the page is wider than the window, in CSS pixels (0: it fits)."""
    return browser.execute_script(
        "return document.documentElement.scrollWidth - window.innerWidth;"
    )


def a_user_with_history():
    """A user with usage (results kept), a pending payment and an article."""
    user = UserFactory(username="nguyen", email="nguyen@example.com", password=PASSWORD)
    article = ArticleFactory(
        user=user,
        title="Cách pha cà phê ngon tại nhà cho người mới bắt đầu",
        content=ARTICLE,
        seo_title="Pha cà phê ngon tại nhà",
    )
    wallet = Wallet(user)
    for action, amount, result in [
        ("generate_seo_title", 300, "Small Business SEO: Clear Titles That Reach Customers"),
        (
            "generate_meta_description",
            400,
            "Search engine optimisation helps small businesses reach new customers. A clear "
            "title and a short meta description tell search engines what a page is about.",
        ),
        ("find_image", 100, "small business seo\nsearch engine\nmeta description"),
    ]:
        wallet.settle(wallet.hold(amount, action=action), article_id=article.pk, result=result)
    PaymentFactory(user=user, plan="starter")
    return user, article


@pytest.mark.parametrize("language", ["en", "vi"])
def test_no_page_scrolls_sideways_on_a_phone(site, browser, wait_for, language):
    user, article = a_user_with_history()
    log_in(browser, site, "nguyen")
    browser.add_cookie({"name": "django_language", "value": language})
    folder = shots_folder()
    too_wide = {}
    for size_name, (width, height) in SIZES.items():
        browser.set_window_size(width, height)
        for name, path in PAGES.items():
            browser.get(site.url + path.format(article=article.pk))
            wait_for("main")
            assert browser.execute_script("return document.documentElement.lang") == language
            _save_full_page(browser, folder / f"{name}-{language}-{size_name}.png")
            if size_name == "phone" and (overflow := width_overflow(browser)) > 0:
                too_wide[name] = overflow
    assert too_wide == {}

    # The phone header: one row, the menu opens under it and fits.
    browser.set_window_size(*SIZES["phone"])
    browser.get(f"{site.url}/dashboard/")
    toggle = wait_for("#menu-toggle")
    assert not browser.find_element(By.CSS_SELECTOR, ".main-nav").is_displayed()
    header = browser.find_element(By.CSS_SELECTOR, ".site-header")
    assert header.size["height"] < 80
    toggle.click()
    WebDriverWait(browser, 5).until(
        lambda _: browser.find_element(By.CSS_SELECTOR, ".main-nav").is_displayed()
    )
    assert width_overflow(browser) <= 0
    _save_full_page(browser, folder / f"menu-open-{language}-phone.png")


@pytest.mark.parametrize("language", ["en", "vi"])
def test_visitors_see_the_plans(site, browser, wait_for, language):
    browser.get(f"{site.url}/plans/")
    browser.add_cookie({"name": "django_language", "value": language})
    folder = shots_folder()
    for size_name, (width, height) in SIZES.items():
        browser.set_window_size(width, height)
        browser.get(f"{site.url}/plans/")
        wait_for("#plan-starter")
        assert browser.find_elements(By.CSS_SELECTOR, '#plan-starter a[href="/register/"]')
        if size_name == "phone":
            assert width_overflow(browser) <= 0
        _save_full_page(browser, folder / f"plans-visitor-{language}-{size_name}.png")


def test_the_dialog_names_what_the_balance_still_covers(site, browser, wait_for):
    user = UserFactory(username="binh", email="binh@example.com", password=PASSWORD)
    Wallet(user).debit(9_650)  # 350 left: SEO title (300) and find image (100)
    log_in(browser, site, "binh")
    browser.set_window_size(*SIZES["phone"])
    browser.get(f"{site.url}/tools/")
    wait_for("#tools-text").send_keys(ARTICLE)
    meta = browser.find_element(By.ID, "action-generate-meta-description")
    assert meta.get_attribute("aria-disabled") == "true"
    assert browser.find_element(By.ID, "action-generate-seo-title").get_attribute(
        "aria-disabled"
    ) in (None, "false")

    meta.click()  # greyed, but the server decides: a 402 opens the dialog

    wait_for("dialog#insufficient-tokens")
    covers = browser.find_element(By.ID, "insufficient-covers").text
    assert "SEO title" in covers and "Find image" in covers
    assert "Meta description" not in covers and "Rewrite" not in covers
    _save_full_page(browser, shots_folder() / "dialog-en-phone.png")


def test_the_tools_page_keeps_the_last_result_after_a_reload(site, browser, wait_for):
    UserFactory(username="mai", email="mai@example.com", password=PASSWORD)
    log_in(browser, site, "mai")
    browser.get(f"{site.url}/tools/")
    wait_for("#tools-text").send_keys(ARTICLE)
    browser.find_element(By.ID, "action-generate-seo-title").click()
    result = browser.find_element(By.ID, "tools-result")
    WebDriverWait(browser, 15).until(lambda _: wait_for("#tools-copy"))
    generated = result.text

    browser.refresh()

    assert wait_for("#tools-result").text == generated
    assert "SEO title" in wait_for("#tools-last").text
    assert wait_for("#tools-copy").is_displayed()
