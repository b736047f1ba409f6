# Helpers for the fake tenant's tests: the built-in tenant's accounts and addresses, an smtplib
# client that connects to a listener's address while verifying TLS against the endpoint's public
# host name from a chosen loopback source (each virtual device has its own 127.0.0.x), and small
# builders for messages and XOAUTH2 strings.
import base64
import os
import smtplib
import socket
import ssl
import warnings

SCANNER = ("scanner@contoso.com", "Scanner-Pass-1")
ALICE = ("alice@contoso.com", "Alice-Pass-1")
BOB = ("bob@contoso.com", "Bob-Pass-1")
NOSMTP = ("nosmtp@contoso.com", "NoSmtp-Pass-1")
HVE = ("hve-scanner@contoso.com", "Hve-Pass-1")
PRINTER_IP = "127.0.0.30"       # matches the office-printers connector
SCANNER_IP = "127.0.0.20"       # in contoso.com's SPF record
STRANGER_IP = "127.0.0.99"      # in no record: SPF softfail


class Client(smtplib.SMTP):
    """smtplib.SMTP to a fake listener's address; TLS is checked against the endpoint's name."""

    def __init__(self, tenant, endpoint, source_ip=None, timeout=20):
        self._address = tenant.address(endpoint)
        self._tenant = tenant
        super().__init__(tenant.hostname(endpoint), self._address[1], timeout=timeout,
                         source_address=(source_ip, 0) if source_ip else None)

    def _get_socket(self, host, port, timeout):
        return socket.create_connection(self._address, timeout, self.source_address)

    def secure(self, context=None):
        self.ehlo()
        self.starttls(context=context or tls_context(self._tenant))
        self.ehlo()
        return self

    def login_as(self, account):
        self.login(*account)
        return self

    def raw(self, line):
        """Send one command line as is and return (code, text) of the reply."""
        self.putcmd(line)
        return self.getreply()


def tls_context(tenant, maximum=None):
    context = ssl.create_default_context(cafile=tenant.ca_pem_path)
    if maximum is not None:
        with warnings.catch_warnings():   # TLS 1.0/1.1 are deprecated: that is the point here
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = maximum
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def reply_line(code_text):
    """'(250, b"2.1.0 Sender OK")' -> '250 2.1.0 Sender OK', the form replies.py holds."""
    code, text = code_text
    return "%d %s" % (code, text.decode("utf-8"))


def message(sender="scanner@contoso.com", to="alice@contoso.com", subject="Scan 0001", body="See attached.",
            extra=""):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\n%s\r\n%s\r\n" % (sender, to, subject, extra, body)).encode("utf-8")


def xoauth2(address, token):
    return base64.b64encode(("user=%s\x01auth=Bearer %s\x01\x01" % (address, token)).encode()).decode()


def leftover_files(tenant):
    """Half-written files: anything in the DATA spool or in a Maildir tmp/ folder."""
    left = list(tenant.spool_files())
    for root, _dirs, files in os.walk(tenant.mail_dir):
        if os.path.basename(root) == "tmp":
            left.extend(files)
    return left
