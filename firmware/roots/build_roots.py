# Build-time tool (CPython only, never imported on a board): copies the roots a board trusts out
# of certifi's CA bundle into DER files beside this script. Rule: the committed DER files are
# exactly what this script writes; rerun it after updating certifi:
#   .venv/bin/python -m firmware.roots.build_roots
import binascii
import sys

ROOTS = {  # certifi label -> file written beside this script
    "DigiCert Global Root G2": "digicert_global_root_g2.der",
}
HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."


def der_from_certifi(label):
    certifi = __import__("certifi")        # a build-time dependency, not a board module
    with open(certifi.where()) as f:
        bundle = f.read()
    marker = '# Label: "%s"\n' % label
    start = bundle.find(marker)
    if start < 0:
        raise SystemExit("build_roots: %r is not in certifi's bundle %s" % (label, certifi.where()))
    begin = bundle.index("-----BEGIN CERTIFICATE-----", start) + len("-----BEGIN CERTIFICATE-----")
    end = bundle.index("-----END CERTIFICATE-----", begin)
    return binascii.a2b_base64("".join(bundle[begin:end].split()))


def main():
    for label, name in ROOTS.items():
        der = der_from_certifi(label)
        with open(HERE + "/" + name, "wb") as f:
            f.write(der)
        print("build_roots: wrote %s (%d bytes) from certifi %r" % (name, len(der), label))
    return 0


if __name__ == "__main__":
    sys.exit(main())
