# Benchmark of the fake tenant's workbench page (emulator/tenant/workbench) in a real headless
# Chromium: the page's first load on a mailbox holding 10,000 messages, against its anchor, the
# same first load on an empty mailbox, in the same run and the same browser. Rule: every figure is
# printed beside the anchor's, the ratio and the target; nothing here fails the build (exit 0).
#
#   .venv/bin/python bench/workbench.py              # 10,000 messages, 5 loads of each
#   .venv/bin/python bench/workbench.py --json       # machine-readable result on stdout
#   .venv/bin/python bench/workbench.py --messages 2000 --repeat 3
#
# "First load" is a fresh navigation to <api>/#/mail/alice@contoso.com/Inbox (a new document, the
# browser's cache emptied through the DevTools protocol) until the list shows its first page (50
# rows, newest first) and the folder title its total; the wall time around it from the driver.
# The best of --repeat loads counts, for the full and the empty mailbox alike, alternating. Also
# printed, for where the time goes: one page of the folder from the API (GET /api/folder) and the
# whole folder as the older listing returns it (GET /api/messages, every message parsed), each once.
import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from scanmail.emulator.tenant import FakeTenant  # noqa: E402
from tests.workbench.browser import start_chromium, text_of  # noqa: E402

TARGET_S = 1.0
FULL, EMPTY = "alice@contoso.com", "bob@contoso.com"


def fill(tenant, address, count):
    """`count` small scan notices in the mailbox's Inbox, through the store's own spool and delivery."""
    store = tenant.world.store
    for n in range(count):
        spool = store.new_spool_file((address, "Inbox"))
        spool.write(("Received: from scanner (127.0.0.20) by bench; Mon, 2 Mar 2026 09:00:00 +0000\r\n"
                     "From: scanner@contoso.com\r\nTo: %s\r\nSubject: Scan %05d\r\n"
                     "Date: Mon, 2 Mar 2026 09:00:00 +0000\r\nMessage-ID: <bench-%d@contoso.com>\r\n\r\n"
                     "Scanned page %d.\r\n" % (address, n, n, n)).encode())
        spool.close()
        store.deliver(spool.name, [(address, "Inbox")])


def first_load(driver, url, address, total):
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    driver.get("about:blank")
    wanted_rows = min(total, 50)
    started = time.perf_counter()
    driver.get(url + "/#/mail/%s/Inbox" % address)
    WebDriverWait(driver, 30, poll_frequency=0.005).until(
        lambda d: "(%d)" % total in text_of(d, "#folder-title") and d.execute_script(
            "return document.querySelectorAll('#messages a.msg').length") == wanted_rows)
    return time.perf_counter() - started


def timed_get(url):
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=300) as response:
        response.read()
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-workbench-") as work:
        with FakeTenant(state_dir=os.path.join(work, "tenant")) as tenant:
            started = time.perf_counter()
            fill(tenant, FULL, args.messages)
            fill_s = time.perf_counter() - started
            driver = start_chromium(os.path.join(work, "profile"))
            try:
                full, empty = [], []
                for run in range(args.repeat):
                    order = [(full, FULL, args.messages), (empty, EMPTY, 0)]
                    for runs, address, total in (order if run % 2 == 0 else order[::-1]):
                        runs.append(first_load(driver, tenant.api_url, address, total))
            finally:
                driver.quit()
            api_page = timed_get(tenant.api_url + "/api/folder?mailbox=%s&folder=Inbox&limit=50" % FULL)
            api_all = timed_get(tenant.api_url + "/api/messages?mailbox=%s&folder=Inbox" % FULL)
    result = {
        "messages": args.messages,
        "first_load_s": round(min(full), 4),
        "anchor": "first load of the same page on an empty mailbox",
        "anchor_first_load_s": round(min(empty), 4),
        "ratio": round(min(full) / min(empty), 2),
        "target_s": TARGET_S,
        "meets_target": min(full) < TARGET_S,
        "first_load_median_s": round(sorted(full)[len(full) // 2], 4),
        "anchor_median_s": round(sorted(empty)[len(empty) // 2], 4),
        "first_load_runs_s": [round(x, 4) for x in full],
        "anchor_runs_s": [round(x, 4) for x in empty],
        "api_folder_page_s": round(api_page, 4),
        "api_messages_whole_folder_s": round(api_all, 4),
        "fill_s": round(fill_s, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print("workbench first load, %d messages in the mailbox (load average %s)" % (args.messages, result["load_average"]))
    print("  first load (best of %d)      %.3f s   anchor (empty mailbox) %.3f s   ratio %.2fx   target < %.1f s: %s"
          % (args.repeat, result["first_load_s"], result["anchor_first_load_s"], result["ratio"], TARGET_S,
             "PASS" if result["meets_target"] else "MISS"))
    print("  median %.3f s, anchor median %.3f s; runs: %s; anchor runs: %s" % (
        result["first_load_median_s"], result["anchor_median_s"], result["first_load_runs_s"], result["anchor_runs_s"]))
    print("  GET /api/folder (one page of 50)  %.3f s;  GET /api/messages (whole folder, parsed)  %.3f s"
          % (api_page, api_all))
    return 0


if __name__ == "__main__":
    sys.exit(main())
