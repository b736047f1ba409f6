# The trust roots a board carries: DER certificates beside this file, read when a TLS context is
# built. Rule: the files are generated from certifi's bundle by firmware/roots/build_roots.py
# (never edited by hand); tests/firmware checks that they still match certifi.
