# The fake world's certificates: one trustme CA, one server certificate per listener whose SANs are
# the endpoint's public host names, and client certificates for certificate-matched connectors.
# Rule: names, not addresses: clients verify `smtp.office365.com`, exactly as on the internet, so
# there is no IP address in any SAN, except the sign-in endpoint's: its URL in endpoints.json is an
# address (`https://127.0.0.1:N`, what MSAL and browsers are pointed at), so its certificate names
# login.microsoftonline.com and that address. The CA goes to the state dir as PEM and DER.
import os
import ssl
import warnings

import trustme

# Other names the real service answers on (docs/exchange-online.md, "Endpoints and host names").
EXTRA_NAMES = {
    "submission": ["smtp.office365.com", "smtp-mail.outlook.com"],
    "mx": ["*.mail.protection.outlook.com", "*.mx.microsoft"],
    "hve": ["smtp.hve.mx.microsoft", "smtp-hve.office365.com"],
    "login": ["login.microsoftonline.com", "login.microsoft.com", "login.windows.net"],
}


class CertificateAuthority:
    def __init__(self, state_dir):
        self.ca = trustme.CA(organization_name="scanmail fake Microsoft 365")
        self.pem_path = os.path.join(state_dir, "ca.pem")
        self.der_path = os.path.join(state_dir, "ca.der")
        self.ca.cert_pem.write_to_path(self.pem_path)
        with open(self.der_path, "wb") as f:
            f.write(ssl.PEM_cert_to_DER_cert(self.ca.cert_pem.bytes().decode("ascii")))
        self._state_dir = state_dir

    def server_context(self, endpoint, hostname, request_client_cert=False, addresses=()):
        """A server TLS context. It accepts TLS 1.0 and up (OpenSSL 3 needs @SECLEVEL=0 for 1.0/1.1)
        so that the tenant can answer legacy clients with `421 4.7.66` after the handshake, as the
        real service does."""
        names = [hostname] + [n for n in EXTRA_NAMES.get(endpoint, []) if n != hostname] + list(addresses)
        leaf = self.ca.issue_cert(*names, common_name=hostname)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        leaf.configure_cert(ctx)
        if request_client_cert:
            ctx.verify_mode = ssl.CERT_OPTIONAL
            self.ca.configure_trust(ctx)
        return ctx

    def issue_app_certificate(self, name):
        """A certificate and key for an app registration's client assertions: (x509 object, paths)."""
        from cryptography import x509
        leaf = self.ca.issue_cert(name, common_name=name, key_type=trustme.KeyType.RSA)  # Entra takes RSA keys
        base = os.path.join(self._state_dir, "app-" + name)
        leaf.cert_chain_pems[0].write_to_path(base + ".crt.pem")
        leaf.private_key_pem.write_to_path(base + ".key.pem")
        return x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()), {
            "cert_pem": base + ".crt.pem", "key_pem": base + ".key.pem"}

    def issue_client_cert(self, name):
        """A client certificate (CN and SAN `name`) signed by the fake CA, for relay through a
        certificate-matched connector. Returns paths of cert PEM, key PEM, cert DER and key DER."""
        leaf = self.ca.issue_cert(name, common_name=name)
        base = os.path.join(self._state_dir, "client-" + name.replace("*", "_"))
        cert_pem, key_pem = base + ".crt.pem", base + ".key.pem"
        leaf.cert_chain_pems[0].write_to_path(cert_pem)
        leaf.private_key_pem.write_to_path(key_pem)
        from cryptography.hazmat.primitives import serialization
        key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
        with open(base + ".crt.der", "wb") as f:
            f.write(ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode("ascii")))
        with open(base + ".key.der", "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        return {"cert_pem": cert_pem, "key_pem": key_pem, "cert_der": base + ".crt.der",
                "key_der": base + ".key.der"}
