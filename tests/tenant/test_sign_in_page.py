# The sign-in page at the fake Entra ID's verification URI, in a real headless browser: Debian's
# chromium driven by Selenium through the system chromedriver (nothing downloads a browser). A
# person types the device's code, signs in as a mailbox with its password (a wrong one first),
# consents; the device's next poll gets tokens that submission accepts. Declining ends the sign-in.
import base64
import hashlib
import shutil
import ssl
import tempfile
from urllib.parse import urlparse

from cryptography import x509
from cryptography.hazmat.primitives import serialization

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.support.ui import WebDriverWait

from scanmail.emulator.tenant import entra_errors as errors
from scanmail.emulator.tenant import replies
from tests.tenant.test_entra import SCANNER, assert_entra_error, auth_reply, device_code, poll

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def login_key_pin(tenant):
    """The base64 SHA-256 of the fake sign-in endpoint's public key, after checking its certificate
    against the fake's CA: chromium then trusts that one key and nothing else it cannot verify."""
    address = urlparse(tenant.login_url)
    pem = ssl.get_server_certificate((address.hostname, address.port), ca_certs=tenant.ca_pem_path)
    spki = x509.load_pem_x509_certificate(pem.encode()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="module")
def browser(shared_tenant):
    import os
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("this test drives the system chromium: apt-get install chromium chromium-driver "
                    "(./dev test installs them when missing)", pytrace=False)
    profile = tempfile.mkdtemp(prefix="scanmail-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run",
                 "--ignore-certificate-errors-spki-list=" + login_key_pin(shared_tenant),
                 "--user-data-dir=" + profile):
        options.add_argument(flag)
    # An explicit chromedriver path: Selenium Manager (which downloads drivers) never runs.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def type_into(driver, element_id, text):
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def press(driver, button_id):
    """Click a form's button and wait until the next page has replaced this one."""
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, button_id).click()

    def replaced(_):
        try:
            page.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:       # chromedriver mid-navigation: the old node is gone
            if "does not belong to the document" in str(exc):
                return True
            raise

    WebDriverWait(driver, 30, poll_frequency=0.02).until(replaced)


def test_a_person_signs_the_device_in_through_the_page(tenant, browser):
    _, code = device_code(tenant)
    browser.get(code["verification_uri"])
    type_into(browser, "otc", "WRONGCODE")
    press(browser, "next")
    assert "didn't work" in browser.find_element(By.ID, "error").text
    type_into(browser, "otc", code["user_code"].lower())        # people type codes in any case
    press(browser, "next")
    assert browser.find_element(By.ID, "app").text == "scanmail-scanner"
    type_into(browser, "login", SCANNER[0])
    type_into(browser, "passwd", "not-the-password")
    press(browser, "signin")
    assert "AADSTS50126" in browser.find_element(By.ID, "error").text
    assert_entra_error(poll(tenant, code["device_code"]), errors.AUTHORIZATION_PENDING)
    type_into(browser, "login", SCANNER[0])
    type_into(browser, "passwd", SCANNER[1])
    press(browser, "signin")
    assert browser.find_element(By.ID, "user").text == SCANNER[0]
    assert SCANNER[1] not in browser.page_source
    press(browser, "accept")
    assert "You have signed in to the scanmail-scanner application" in browser.find_element(By.ID, "done").text
    tenant.clock.advance(5)
    status, tokens = poll(tenant, code["device_code"])
    assert status == 200
    assert auth_reply(tenant, SCANNER[0], tokens["access_token"]) == replies.AUTH_OK


def test_cancelling_at_consent_declines_the_sign_in(tenant, browser):
    _, code = device_code(tenant)
    browser.get(code["verification_uri"])
    type_into(browser, "otc", code["user_code"])
    press(browser, "next")
    type_into(browser, "login", SCANNER[0])
    type_into(browser, "passwd", SCANNER[1])
    press(browser, "signin")
    press(browser, "cancel")
    assert "declined" in browser.find_element(By.ID, "done").text
    assert_entra_error(poll(tenant, code["device_code"]), errors.AUTHORIZATION_DECLINED)
