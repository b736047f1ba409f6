# The workbench in a real headless Chromium, against a running fake tenant: mail sent by each method
# (and a refusal) shows in the open page within 2 s of the SMTP reply, with no reload; a scan sent by
# a virtual board appears live and its PDF is drawn; a switch changed in the page changes the next
# SMTP reply; a narrow window and the keyboard work. The README's screenshots come from here
# (SCANMAIL_SCREENSHOTS=1 writes them to docs/pictures/).
import json
import smtplib

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from scanmail.emulator.tenant import FakeTenant
from tests.tenant.helpers import HVE, PRINTER_IP, SCANNER, SCANNER_IP, Client, message
from tests.workbench.browser import go, png_pixels, save_picture, start_chromium, text_of, wait_for_text


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """One tenant and one browser for the whole module, the page open on the workbench."""
    with FakeTenant(state_dir=str(tmp_path_factory.mktemp("tenant"))) as tenant:
        driver = start_chromium(str(tmp_path_factory.mktemp("chromium-profile")))
        try:
            driver.get(tenant.api_url + "/")
            wait_for_text(driver, "#live", "live", limit_s=10)
            driver.execute_script("window.loadedOnce = true;")     # gone if the page ever reloads
            yield tenant, driver
        finally:
            driver.quit()


def still_the_same_page(driver):
    return driver.execute_script("return window.loadedOnce === true;")


def show_folder(driver, mailbox, folder="Inbox"):
    title = mailbox + (" (relayed out)" if mailbox == "internet" else " / " + folder)
    go(driver, "#/mail/%s/%s" % (mailbox, folder), "#folder-title", title)


def test_mail_sent_by_each_method_shows_in_the_page_within_2_s_of_the_smtp_reply(bench, tmp_path):
    tenant, driver = bench

    def submission(subject):
        with Client(tenant, "submission", source_ip=SCANNER_IP) as c:
            c.secure().login_as(SCANNER)
            return c.sendmail("scanner@contoso.com", ["alice@contoso.com"], message(subject=subject))

    def direct_send(subject):
        with Client(tenant, "mx", source_ip=SCANNER_IP) as c:       # 127.0.0.20 is in contoso.com's SPF
            return c.sendmail("scanner@contoso.com", ["bob@contoso.com"], message(to="bob@contoso.com", subject=subject))

    def relay(subject):
        with Client(tenant, "mx", source_ip=PRINTER_IP) as c:       # the office-printers connector's IP
            c.secure()
            return c.sendmail("printer@contoso.com", ["partner@fabrikam.example"],
                              message(sender="printer@contoso.com", to="partner@fabrikam.example", subject=subject))

    def hve(subject):
        with Client(tenant, "hve", source_ip="127.0.0.40") as c:
            c.secure().login_as(HVE)
            return c.sendmail(HVE[0], ["alice@contoso.com"], message(sender=HVE[0], subject=subject))

    for method, send, mailbox in (("submission", submission, "alice@contoso.com"),
                                  ("direct_send", direct_send, "bob@contoso.com"),
                                  ("relay", relay, "internet"),
                                  ("hve", hve, "alice@contoso.com")):
        show_folder(driver, mailbox)
        subject = "Scan by %s" % method
        assert send(subject) == {}                     # the SMTP reply: accepted for every recipient
        wait_for_text(driver, "#messages", subject)    # within 2 s of that reply, no reload
    last = tenant.trace()[-4:]
    assert [r["method"] for r in last] == ["submission", "direct_send", "relay", "hve"]

    go(driver, "#/trace", "#trace-table tbody", "hve")
    with Client(tenant, "submission", source_ip=SCANNER_IP) as c:
        c.secure()
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            c.login("scanner@contoso.com", "not-the-password")
    assert refused.value.smtp_code == 535
    row = wait_for_text(driver, "#trace-table tbody tr:first-child", "Refused")
    assert "535 5.7.139" in row or "535 5.7.3" in row
    driver.find_element(By.CSS_SELECTOR, "#trace-table tbody tr:first-child").click()
    lines = wait_for_text(driver, "#conversation-lines", "C: AUTH LOGIN <credentials hidden>")
    assert "not-the-password" not in lines and lines.rstrip().endswith(refused.value.smtp_error.decode())
    assert still_the_same_page(driver)
    driver.execute_script("window.scrollTo(0, 0);")
    save_picture(driver, "workbench-trace.png", tmp_path)


def test_the_trace_filters_by_method_and_status(bench):
    tenant, driver = bench
    go(driver, "#/trace", "#trace-table tbody", "Refused")
    Select(driver.find_element(By.NAME, "method")).select_by_visible_text("relay")
    wait_for_text(driver, "#trace-pager", "1\u20131 of 1")
    assert "partner@fabrikam.example" in text_of(driver, "#trace-table tbody")
    driver.find_element(By.CSS_SELECTOR, "#trace-filters button[type=reset]").click()
    Select(driver.find_element(By.NAME, "status")).select_by_visible_text("Refused")
    wait_for_text(driver, "#trace-pager", "1\u20131 of 1")
    assert "Delivered" not in text_of(driver, "#trace-table tbody")
    driver.find_element(By.CSS_SELECTOR, "#trace-filters button[type=reset]").click()


def test_a_switch_changed_in_the_page_changes_the_next_smtp_reply(bench, tmp_path):
    tenant, driver = bench
    go(driver, "#/tenant", "#view-tenant", "Tenant switches")
    box = driver.find_element(By.ID, "switch-smtp_auth")
    assert box.is_selected()
    box.click()
    wait_for_text(driver, "#tenant-saved", "SMTP AUTH (client submission) allowed = false")
    with Client(tenant, "submission", source_ip=SCANNER_IP) as c:
        c.secure()
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            c.login(*SCANNER)
    assert b"SmtpClientAuthentication is disabled for the Tenant" in refused.value.smtp_error
    driver.execute_script("window.scrollTo(0, 0);")
    save_picture(driver, "workbench-tenant.png", tmp_path)
    driver.find_element(By.ID, "switch-smtp_auth").click()
    wait_for_text(driver, "#tenant-saved", "SMTP AUTH (client submission) allowed = true")
    with Client(tenant, "submission", source_ip=SCANNER_IP) as c:
        c.secure().login_as(SCANNER)
    assert tenant.world.tenant.smtp_auth is True


def test_a_narrow_window_and_the_keyboard_open_and_delete_a_message(bench, tmp_path):
    tenant, driver = bench
    show_folder(driver, "alice@contoso.com")
    driver.set_window_size(420, 900)
    try:
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys("j")
        wait_for_text(driver, "#message-subject", "Scan by hve")          # the newest first
        body.send_keys("j")
        wait_for_text(driver, "#message-subject", "Scan by submission")
        assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        body.send_keys("\ue017")      # Delete
        wait_for_text(driver, "#folder-title", "alice@contoso.com / Inbox (1)")
        assert [m["Subject"] for m in tenant.messages("alice@contoso.com")] == ["Scan by hve"]
    finally:
        driver.set_window_size(1200, 820)


def page_is_drawn(png):
    """Chromium's PDF viewer has drawn a page: a white sheet with dark text on its grey background."""
    width, height, rows = png_pixels(png)
    pixels = [p for row in rows[::3] for p in row[::3]]
    white = sum(1 for p in pixels if min(p) >= 250)
    dark = sum(1 for p in pixels if max(p) <= 90)
    return white > len(pixels) // 10 and dark > 20


def test_a_scan_sent_by_a_virtual_board_appears_without_reload_and_its_pdf_is_drawn(bench, tmp_path):
    from scanmail.emulator import demo
    from scanmail.emulator.boards import BoardHandle
    from scanmail.host_tools.raw_repl import RawRepl

    tenant, driver = bench
    show_folder(driver, "alice@contoso.com", "Junk Email")
    # The annex board's address is not in contoso.com's SPF record: direct send lands in Junk Email.
    with BoardHandle("esp32-devkitc", "micropython", str(tmp_path / "board"), "127.0.0.99",
                     tenant_state=tenant.state_dir, fast=True) as board:
        repl = RawRepl(board.port)
        try:
            repl.enter()
            with open(tenant.ca_der_path, "rb") as f:
                demo._install(repl, f.read(), demo.sample_scan_pdf("annex"))
            code = demo._SEND_ON_BOARD % {
                "ca": demo.BOARD_CA_PATH, "scan": demo.BOARD_SCAN_PATH,
                "settings": demo.settings_for("direct_send", tenant.endpoints), "sender": "scanner@contoso.com",
                "to": "alice@contoso.com", "subject": "Scan from the annex board", "body": "Scanned in the annex."}
            result = json.loads(repl.exec(code, timeout_s=60).strip().splitlines()[-1])
        finally:
            repl.close()
    assert result["ok"], result
    wait_for_text(driver, "#messages", "Scan from the annex board")      # within 2 s, no reload
    assert still_the_same_page(driver)
    driver.find_element(By.CSS_SELECTOR, "#messages a.msg").click()
    verdict = wait_for_text(driver, "#verdict", "Junk Email")
    assert "127.0.0.99" in verdict and "softfail" in verdict
    attachments = text_of(driver, "#attachments")
    assert "sample-0001.pdf" in attachments and "application/pdf" in attachments
    frame = driver.find_element(By.CSS_SELECTOR, "iframe.pdf")
    driver.execute_script("arguments[0].scrollIntoView();", frame)
    WebDriverWait(driver, 15, poll_frequency=0.2).until(lambda d: page_is_drawn(frame.screenshot_as_png),
                                                       "the PDF viewer never drew the scan")
    driver.execute_script("document.getElementById('message').scrollIntoView();")
    save_picture(driver, "workbench-junk-scan.png", tmp_path)
