# TLS set-up and what a failed handshake means, on MicroPython and CPython: real handshakes against
# servers whose certificate is expired, not yet valid or for another name, that close at once,
# never answer or speak plain SMTP, each classed as the user's problem it is (firmware/tls_setup.py);
# a CA or client certificate that cannot be loaded, and a clock that is not set, refused before
# any connection.
import datetime
import json
import time

import pytest

from tests.firmware import plain_servers
from tests.firmware.runtime_cache import batch, run_json

HOST = "mail.example.org"
NOW = int(time.time())
DAY = datetime.timedelta(days=1)


def send_to(runtime, server, tmp_path, ca_der=None, now=NOW, **settings):
    """One send_mail with implicit TLS to `server` as HOST:465; -> send_case's JSON."""
    ca = tmp_path / "ca.der"
    ca.write_bytes(ca_der if ca_der is not None else server.ca_der)
    spec = {"settings": dict({"method": "custom", "host": HOST, "tls": "implicit",
                              "ca_der_path": str(ca), "timeout_s": 2}, **settings),
            "message": {"sender": "printer@example.org", "to": ["x@example.org"], "subject": "s"},
            "board": {"ip": "127.0.0.20", "now": now,
                      "routes": {"%s:465" % HOST: list(server.address)}}}
    code = "import json, send_case\nprint(send_case.run(json.loads(%r)))\n" % json.dumps(spec)
    return run_json(runtime, code)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


# case -> (certificate's (not_before, not_after) relative to now in days, the kind it is classed as)
CERTIFICATES = {
    "an expired certificate": ((-30, -1), "expired"),
    "a certificate not valid yet": ((2, 30), "expired"),
    "a certificate for another name": (None, "hostname"),
}


@pytest.mark.parametrize("case", list(CERTIFICATES))
def test_a_certificate_the_board_cannot_accept_is_refused_with_the_reason(runtime, tmp_path, case):
    validity, kind = CERTIFICATES[case]
    if validity:
        server = plain_servers.CertificateServer(HOST, not_before=utc_now() + validity[0] * DAY,
                                                 not_after=utc_now() + validity[1] * DAY)
    else:
        server = plain_servers.CertificateServer("other.example.org")
    with server:
        out = send_to(runtime, server, tmp_path)
    err = out["error"]
    assert (err["stage"], err["kind"], err["transient"]) == ("tls", kind, False), err
    assert err["text"].startswith("TLS with %s failed (%s): " % (HOST, kind))
    assert server.handshakes == 0
    if kind == "expired":
        assert "expired or not yet valid" in err["cause"] and "clock" in err["todo"]
    else:
        assert "another name" in err["cause"]


def test_the_same_server_with_a_valid_certificate_is_reached(runtime, tmp_path):
    # The anchor of the refusals above: only the certificate differs, and this one is accepted
    # (the server then closes the session with a 421, which the board reports as such).
    with plain_servers.CertificateServer(HOST) as server:
        out = send_to(runtime, server, tmp_path)
    assert server.handshakes == 1
    assert (out["error"]["stage"], out["error"]["code"]) == ("greeting", 421), out


# server -> the kind of the failed handshake (all worth a retry)
BROKEN = {
    "a server that never answers the handshake": (plain_servers.SilentServer, "timeout"),
    "a server that closes at once": (plain_servers.ClosingServer, "closed"),
    "a server that speaks plain SMTP where TLS was asked for": (plain_servers.PlaintextServer,
                                                                "handshake"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_handshake_that_breaks_off_is_transient_and_says_how(runtime, tmp_path, case):
    server_class, kind = BROKEN[case]
    ca_der = plain_servers.CertificateServer(HOST).ca_der
    with server_class() as server:
        out = send_to(runtime, server, tmp_path, ca_der=ca_der, timeout_s=1)
    err = out["error"]
    assert (err["stage"], err["kind"], err["transient"]) == ("tls", kind, True), err["text"]
    assert err["text"].startswith("TLS with %s failed (%s): " % (HOST, kind))


def test_a_ca_that_is_not_a_certificate_is_refused_before_connecting(runtime, tmp_path):
    with plain_servers.CertificateServer(HOST) as server:
        out = send_to(runtime, server, tmp_path, ca_der=b"-----BEGIN CERTIFICATE-----")
    err = out["error"]
    assert (err["stage"], err["kind"], err["transient"]) == ("tls", "untrusted", False), err
    assert err["text"].startswith("ca_der is not a valid DER certificate")
    assert out["connected"] == []


def test_a_client_certificate_that_cannot_be_loaded_is_refused_before_connecting(runtime, tmp_path):
    cert = tmp_path / "client.der"
    cert.write_bytes(b"not a certificate")
    with plain_servers.CertificateServer(HOST) as server:
        out = send_to(runtime, server, tmp_path, client_cert_der_path=str(cert),
                      client_key_der_path=str(cert))
    err = out["error"]
    assert (err["stage"], err["kind"], err["transient"]) == ("tls", "client_cert", False), err
    assert "client_cert_der and client_key_der" in err["todo"]
    assert out["connected"] == []


# The clock check's edge: 2024-01-01T00:00:00Z is the first time taken as set.
CLOCK_CODE = """
import json
from scanmail.firmware.tls_setup import check_clock
from scanmail.firmware.errors import SMTPError
out = []
for now in json.loads(%r):
    try:
        check_clock(now, "submission", 587)
        out.append(None)
    except SMTPError as err:
        out.append([err.stage, err.kind, err.transient, err.method, err.port, err.text])
print(json.dumps(out))
"""


def test_a_clock_before_2024_is_not_set_and_from_2024_on_it_is(runtime):
    got = batch(runtime, "clock", CLOCK_CODE % json.dumps([None, 1704067199, 1704067200, NOW]))
    refused = "the board's clock is not set (%s), so the server's certificate cannot be checked"
    assert got == [["tls", "clock", True, "submission", 587, refused % "no time yet"],
                   ["tls", "clock", True, "submission", 587, refused % "1704067199"], None, None]


# Exceptions as each runtime's TLS raises them -> kind (failure_kind reads their text or errno).
KIND_CODE = """
import errno, json
from scanmail.firmware.tls_setup import failure_kind, handshake_failed
cases = [
    ValueError("The certificate Common Name (CN) does not match with the expected CN"),
    ValueError("certificate verify failed: Hostname mismatch, certificate is not valid for 'x'"),
    ValueError("the certificate's common name does not match"),
    ValueError("name (CN) mismatch"),
    ValueError("The certificate validity has expired"),
    ValueError("The certificate validity starts in the future"),
    ValueError("certificate verify failed: certificate is not yet valid"),
    ValueError("The certificate is not correctly signed by the trusted CA"),
    ValueError("unable to get local issuer certificate"),
    ValueError("self-signed certificate in certificate chain"),
    ValueError("self signed certificate"),
    ValueError("certificate verify failed: something new"),
    ValueError("the chain is not trusted"),
    OSError(errno.ETIMEDOUT),
    OSError(errno.ECONNRESET),
    OSError(-29184, "MBEDTLS_ERR_SSL_INVALID_RECORD"),
    ValueError(""),
]
out = [list(failure_kind(exc)) for exc in cases]
err = handshake_failed(OSError(errno.ETIMEDOUT), "smtp.office365.com", "submission", 587)
out.append([err.stage, err.kind, err.transient, err.method, err.port, err.text])
print(json.dumps(out))
"""


def test_every_kind_of_handshake_failure_is_named_from_either_runtimes_words(runtime):
    got = batch(runtime, "kinds", KIND_CODE)
    kinds = [kind for kind, _ in got[:-1]]
    assert kinds == ["hostname", "hostname", "hostname", "hostname", "expired", "expired",
                     "expired", "untrusted", "untrusted", "untrusted", "untrusted", "untrusted",
                     "untrusted", "timeout", "closed", "handshake", "handshake"]
    assert got[4][1] == "The certificate validity has expired"
    assert got[-2][1].startswith("ValueError(''")        # no text: the exception's repr says what
    stage, kind, transient, method, port, text = got[-1]
    assert (stage, kind, transient, method, port) == ("tls", "timeout", True, "submission", 587)
    assert text.startswith("TLS with smtp.office365.com failed (timeout): ")


BUNDLED_CODE = """
import binascii, json
from scanmail.firmware.tls_setup import bundled_roots
print(json.dumps(binascii.hexlify(bundled_roots()).decode()))
"""


def test_the_bundled_root_is_read_from_beside_the_firmware(runtime):
    from scanmail.firmware.roots import build_roots

    with open(build_roots.HERE + "/digicert_global_root_g2.der", "rb") as f:
        assert bytes.fromhex(batch(runtime, "bundled roots", BUNDLED_CODE)) == f.read()


def test_without_a_ca_the_bundled_root_is_trusted_and_a_private_ca_is_not(runtime, tmp_path):
    with plain_servers.CertificateServer(HOST) as server:
        out = send_to(runtime, server, tmp_path, ca_der=b"")    # empty: the bundled root
    err = out["error"]
    assert (err["stage"], err["kind"]) == ("tls", "untrusted"), err
    assert err["text"].startswith("TLS with %s failed (untrusted): " % HOST)


def sends_in_one_run(runtime, server, tmp_path, cas, made_at_start=False, first_settings=None):
    """send_mail to `server` once per CA in `cas` (DER bytes), all in one run of the runtime, as a
    board sends one message after another; -> (each send's result, whether each send used the
    same TLS context object as the send before it). `made_at_start`: the context is made before
    the first send, as the application makes it; `first_settings`: more settings for the first."""
    specs = []
    for i, ca_der in enumerate(cas):
        ca = tmp_path / ("ca-%d.der" % i)
        ca.write_bytes(ca_der)
        specs.append({"settings": dict({"method": "custom", "host": HOST, "tls": "implicit",
                                        "ca_der_path": str(ca), "timeout_s": 2},
                                       **(first_settings if first_settings and not i else {})),
                      "message": {"sender": "printer@example.org", "to": ["x@example.org"]},
                      "board": {"ip": "127.0.0.20", "now": NOW,
                                "routes": {"%s:465" % HOST: list(server.address)}}})
    start = "compat.TLS[1] = last = compat.new_tls_client_context()\n" if made_at_start else ""
    code = ("import json, send_case\nfrom scanmail.firmware import compat\nouts, same, last = [], [], None\n"
            + start +
            "for spec in json.loads(%r):\n"
            "    outs.append(json.loads(send_case.run(spec)))\n"
            "    same.append(compat.TLS[1] is last)\n"
            "    last = compat.TLS[1]\n"
            "print(json.dumps([outs, same]))\n" % json.dumps(specs))
    return run_json(runtime, code)


def test_sends_with_the_same_roots_use_one_kept_tls_context(runtime, tmp_path):
    # One block of about 3 KB made once rather than per send: in a heap that is never compacted,
    # a context made per send needs 3 KB in one piece each time.
    with plain_servers.CertificateServer(HOST) as server:
        outs, same = sends_in_one_run(runtime, server, tmp_path, [server.ca_der] * 3)
    assert server.handshakes == 3
    assert [(o["error"]["stage"], o["error"]["code"]) for o in outs] == [("greeting", 421)] * 3, outs
    assert same == [False, True, True]


def test_roots_changed_between_sends_are_trusted_alone_never_beside_the_old_ones(runtime, tmp_path):
    # The kept context is let go when the roots change: the server's CA, trusted for the first
    # send, is not trusted any more once the configuration names another CA, and is again after.
    other_ca = plain_servers.CertificateServer(HOST).ca_der
    with plain_servers.CertificateServer(HOST) as server:
        outs, same = sends_in_one_run(runtime, server, tmp_path,
                                      [server.ca_der, other_ca, server.ca_der])
    kinds = [(o["error"]["stage"], o["error"].get("kind") if o["error"]["stage"] == "tls"
              else o["error"]["code"]) for o in outs]
    assert kinds == [("greeting", 421), ("tls", "untrusted"), ("greeting", 421)], outs
    assert same == [False, False, False]


def test_a_ca_that_cannot_be_loaded_leaves_no_half_configured_context_for_the_next_send(runtime,
                                                                                       tmp_path):
    with plain_servers.CertificateServer(HOST) as server:
        outs, _ = sends_in_one_run(runtime, server, tmp_path,
                                   [server.ca_der, b"not a certificate", server.ca_der])
    assert outs[1]["error"]["text"].startswith("ca_der is not a valid DER certificate"), outs[1]
    assert outs[1]["connected"] == []
    assert (outs[2]["error"]["stage"], outs[2]["error"]["code"]) == ("greeting", 421), outs[2]


def test_a_context_made_at_start_is_the_one_the_first_send_configures(runtime, tmp_path):
    # The application makes the board's context first, at the bottom of an empty heap
    # (app_start.preload); the first send must configure that very block, not make another one
    # wherever the heap then has room.
    with plain_servers.CertificateServer(HOST) as server:
        outs, same = sends_in_one_run(runtime, server, tmp_path, [server.ca_der, server.ca_der],
                                      made_at_start=True)
    assert [(o["error"]["stage"], o["error"]["code"]) for o in outs] == [("greeting", 421)] * 2, outs
    assert same == [True, True]


def test_roots_loaded_before_a_client_certificate_failed_are_not_trusted_by_the_next_send(runtime,
                                                                                          tmp_path):
    # The first send loads the server's CA, then fails on its client certificate. The next send
    # names another CA: the half-configured context is never used again, so the server's CA is
    # not trusted beside the new one.
    bad = tmp_path / "client.der"
    bad.write_bytes(b"not a certificate")
    other_ca = plain_servers.CertificateServer(HOST).ca_der
    with plain_servers.CertificateServer(HOST) as server:
        outs, _ = sends_in_one_run(runtime, server, tmp_path, [server.ca_der, other_ca],
                                   first_settings={"client_cert_der_path": str(bad),
                                                   "client_key_der_path": str(bad)})
    assert (outs[0]["error"]["stage"], outs[0]["error"]["kind"]) == ("tls", "client_cert"), outs[0]
    assert (outs[1]["error"]["stage"], outs[1]["error"]["kind"]) == ("tls", "untrusted"), outs[1]
