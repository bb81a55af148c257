"""A person runs their own account in headless Chromium: forgot the password, got back
in by the e-mailed link; and the account pages in English and Vietnamese, wide and
narrow (screenshots: artifacts/screenshots/<test>/)."""

import re
import time
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from accounts.models import User
from accounts.tests.factories import UserFactory
from volx.tests.browser.test_user_journey import PASSWORD, badge

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Brand-New-Secret-77"
RESET_PATH = re.compile(r"https?://[^/\s]+(/reset/[\w-]+/[\w-]+/)")


def mail_in(folder: Path, timeout: float = 15) -> str:
    """The one e-mail the server wrote (EMAIL_URL=filemail://…), once it is there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = sorted(folder.glob("*.log"))
        if files and files[0].stat().st_size:
            return files[0].read_text()
        time.sleep(0.1)
    raise AssertionError(f"no e-mail in {folder}")


def choose_language(browser, site, language: str) -> None:
    browser.get(f"{site.url}/login/")
    browser.add_cookie({"name": "django_language", "value": language})


@pytest.mark.parametrize(("language", "width"), [("en", 1280), ("vi", 390)])
def test_forgot_password_email_link_new_password_log_in(
    start_site, browser, wait_for, screenshot, tmp_path, language, width
):
    browser.set_window_size(width, 844)
    site = start_site(EMAIL_URL=f"filemail:///{tmp_path}")  # four slashes: absolute
    UserFactory(username="ana", email="ana@example.com", password=PASSWORD, language=language)
    choose_language(browser, site, language)

    browser.get(f"{site.url}/login/")
    browser.find_element(By.ID, "forgot-password").click()
    wait_for("#password-reset").find_element(By.NAME, "email").send_keys("ana@example.com")
    screenshot("forgot-password")
    browser.find_element(By.CSS_SELECTOR, "#password-reset button[type=submit]").click()
    wait_for("#password-reset-sent")
    screenshot("check-your-inbox")

    mail = mail_in(tmp_path)
    subject = {"en": "Reset your Volx password", "vi": "Đặt lại mật khẩu Volx của bạn"}
    assert subject[language] in mail or "=?utf-8?" in mail  # encoded when not ASCII
    # The link names SITE_URL; this server listens on another port: the same path there.
    browser.get(site.url + RESET_PATH.search(mail).group(1))
    wait_for("#password-reset-confirm")
    browser.find_element(By.NAME, "new_password1").send_keys(NEW_PASSWORD)
    browser.find_element(By.NAME, "new_password2").send_keys(NEW_PASSWORD)
    screenshot("new-password")
    browser.find_element(By.CSS_SELECTOR, "#password-reset-confirm button[type=submit]").click()
    wait_for("#password-reset-complete")
    screenshot("password-changed")

    browser.find_element(By.CSS_SELECTOR, "#password-reset-complete a.button").click()
    browser.find_element(By.NAME, "username").send_keys("ana")
    browser.find_element(By.NAME, "password").send_keys(NEW_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    WebDriverWait(browser, 20).until(lambda driver: "/login/" not in driver.current_url)
    assert browser.current_url.endswith("/dashboard/")
    assert badge(browser) == ("⚡ 10,000 Token" if language == "en" else "⚡ 10.000 Token")
    screenshot("signed-in-again")
    assert User.objects.get(username="ana").check_password(NEW_PASSWORD)


@pytest.mark.parametrize("language", ["en", "vi"])
@pytest.mark.parametrize("width", [1280, 390])
def test_the_account_pages(start_site, browser, wait_for, screenshot, language, width):
    """Every new page, for the screenshots: reset, lockout, banner, account, deletion."""
    browser.set_window_size(width, 844)
    site = start_site(LOGIN_LOCKOUT_FAILURES="3")
    UserFactory(username="lan", email="lan@example.com", password=PASSWORD, language=language)
    choose_language(browser, site, language)

    for path, element, name in [
        ("/login/", "#forgot-password", "login"),
        ("/password-reset/", "#password-reset", "password-reset"),
        ("/password-reset/sent/", "#password-reset-sent", "reset-sent"),
        ("/reset/MQ/not-a-token/", "#password-reset-confirm", "reset-link-invalid"),
        ("/verify-email/some-token/", "#verify-email", "verify-email"),
    ]:
        browser.get(site.url + path)
        wait_for(element)
        screenshot(name)

    for _ in range(3):  # LOGIN_LOCKOUT_FAILURES wrong passwords
        browser.get(f"{site.url}/login/")
        browser.find_element(By.NAME, "username").send_keys("lan")
        browser.find_element(By.NAME, "password").send_keys("wrong-password")
        button = browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]")
        button.click()
        WebDriverWait(browser, 20).until(expected_conditions.staleness_of(button))
    wait_for("#account-locked")
    screenshot("locked")
    AccessAttempt.objects.all().delete()  # unlocked by hand, to see the signed-in pages

    browser.get(f"{site.url}/login/")
    browser.find_element(By.NAME, "username").send_keys("lan")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_for("#verify-banner")
    screenshot("dashboard-banner")
    browser.get(f"{site.url}/account/")
    wait_for("#profile")
    screenshot("account")
    browser.get(f"{site.url}/account/delete/")
    wait_for("#account-delete")
    screenshot("account-delete")
