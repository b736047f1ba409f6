# The real browser the workbench tests drive: Debian's chromium through its chromium-driver, with
# Selenium; nothing is downloaded (the driver and the browser are the system's). Also a small PNG
# reader, so a test can look at the pixels of a screenshot (a PDF really drawn) without an imaging
# library. Rule: waits are on the page (WebDriverWait on the DOM or on a screenshot), never sleeps.
import os
import shutil
import struct
import zlib

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]
ON_PAGE_S = 2.0      # how soon a message or refusal must show in the page after the SMTP reply


def start_chromium(profile_dir, width=1200, height=820):
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    assert not missing, "install the Debian packages chromium and chromium-driver (.ci/run does): missing %s" % missing
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in FLAGS + ["--user-data-dir=%s" % profile_dir, "--window-size=%d,%d" % (width, height)]:
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))


def text_of(driver, css):
    return driver.execute_script("var n = document.querySelector(arguments[0]); return n ? n.textContent : '';", css)


def wait_for_text(driver, css, text, limit_s=ON_PAGE_S):
    """Wait (at most limit_s) until the element at `css` contains `text`; returns its text."""
    WebDriverWait(driver, limit_s, poll_frequency=0.02).until(lambda d: text in text_of(d, css),
                                                               "%r never showed in %s" % (text, css))
    return text_of(driver, css)


def go(driver, hash_route, ready_css, ready_text):
    """Change the page's route in place (no reload) and wait until it shows what it should."""
    driver.execute_script("location.hash = arguments[0];", hash_route)
    return wait_for_text(driver, ready_css, ready_text, limit_s=10)


def save_picture(driver, name, tmp_path):
    """A screenshot for the README when SCANMAIL_SCREENSHOTS=1, else into the test's folder."""
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                          "docs", "pictures") if os.environ.get("SCANMAIL_SCREENSHOTS") == "1" else str(tmp_path)
    path = os.path.join(folder, name)
    assert driver.save_screenshot(path), path
    return path


def png_pixels(data):
    """(width, height, rows of (r, g, b) tuples) from an 8-bit RGB or RGBA PNG, as Chromium writes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat = 8, b""
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        chunk = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and color in (2, 6), (depth, color)
        elif kind == b"IDAT":
            idat += chunk
        offset += 12 + length
    step = 4 if color == 6 else 3
    raw, stride = zlib.decompress(idat), width * step
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up, corner = previous[i], previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, step)])
        previous = line
    return width, height, rows
