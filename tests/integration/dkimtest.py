"""DKIM for the tests that check signatures made elsewhere: a fresh RSA
key (openssl), its TXT record in strings of at most 255 bytes, and a
message signed with python3-dkim (Debian's, found where pyenv's python
does not look).  `dkim` is the python3-dkim module itself."""
import base64
import os
import subprocess
import sys

for _p in ("/usr/lib/python3/dist-packages",):
    if os.path.isdir(_p) and _p not in sys.path:
        sys.path.append(_p)

import dkim  # noqa: E402,F401  (python3-dkim)


def rsa_key(tmp, name="dkim.pem"):
    """A fresh RSA-2048 key in tmp: (PEM private key, base64 DER public
    key for p=)."""
    key = os.path.join(tmp, name)
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", key], check=True,
                   capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout",
                          "-outform", "DER"], check=True,
                         capture_output=True).stdout
    with open(key, "rb") as f:
        return f.read(), base64.b64encode(der).decode()


def chunks(text):
    """A TXT record's strings: at most 255 bytes each (RFC 1035)."""
    return [text[i:i + 255] for i in range(0, len(text), 255)]


def key_record(pub):
    """The dnsserver.py record of a DKIM key."""
    return [("TXT", chunks("v=DKIM1; k=rsa; p=" + pub))]


def sign(msg, domain, selector, pem):
    """msg (CRLF bytes) with a DKIM-Signature of domain and selector on
    top, the signature's lines ending in CRLF too."""
    sig = dkim.sign(msg, selector.encode(), domain.encode(), pem,
                    include_headers=[b"from", b"to", b"subject", b"date"])
    return sig.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + msg
