"""Client certificates in the TLS handshake, the way kube-apiserver's secure serving takes them
when it has a `--client-ca-file`: the server asks for a certificate but never fails a handshake
over it (Go's `tls.RequestClientCert`); the x509 authenticator verifies it afterwards, per request,
against the CA (chain, dates, the clientAuth EKU). A certificate from another CA therefore gets a
401 (or, with a valid bearer token beside it, the token's user), never a TLS alert. authn.py maps
a verified certificate to its user.

Python's ssl module verifies only inside the handshake, and refuses a bad certificate there with an
alert (CERT_OPTIONAL). So OpenSSL's verify callback on the context's SSL_CTX is replaced, through
ctypes, by one that records the first verification error of the handshake (in a thread-local: each
connection's handshake runs in its own thread) and lets the handshake go on. Where that cannot be
done (another Python implementation, an unexpected OpenSSL), the server falls back to CERT_OPTIONAL
and says so on stderr.
"""

from __future__ import annotations

import ctypes
import ssl
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

_SSL_VERIFY_PEER = 0x01
_SSL_CTRL_SET_SESS_CACHE_MODE = 44
_SSL_SESS_CACHE_OFF = 0x0000
_VERIFY_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)

_handshake = threading.local()  # .error: the first verification error of this thread's handshake


@dataclass(frozen=True)
class PeerCertificate:
    """The leaf certificate a client presented: its DER bytes, its subject (as ssl decodes it:
    a tuple of RDNs of (name, value) pairs) and why it did not verify (None if it did)."""

    der: bytes = field(repr=False)
    subject: tuple
    error: str | None


def _record_error(preverify_ok, store_ctx):
    if not preverify_ok and getattr(_handshake, "error", None) is None:
        code = _LIB.X509_STORE_CTX_get_error(store_ctx)
        _handshake.error = _LIB.X509_verify_cert_error_string(code).decode(errors="replace")
    return 1  # go on with the handshake: the authenticator decides, per request


_LIB = None
_CALLBACK = _VERIFY_CALLBACK(_record_error)  # kept alive for as long as the module


def _openssl():
    """The OpenSSL that Python's _ssl module uses (dlsym on _ssl's handle also searches the
    libraries it links), or None when its version is not the one the ssl module reports."""
    import _ssl

    lib = ctypes.CDLL(_ssl.__file__)
    lib.OpenSSL_version_num.restype = ctypes.c_ulong
    if lib.OpenSSL_version_num() != ssl.OPENSSL_VERSION_NUMBER:
        return None
    lib.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
    lib.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VERIFY_CALLBACK]
    lib.SSL_CTX_set_verify.restype = None
    lib.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    lib.SSL_CTX_ctrl.restype = ctypes.c_long
    lib.SSL_load_client_CA_file.argtypes = [ctypes.c_char_p]
    lib.SSL_load_client_CA_file.restype = ctypes.c_void_p
    lib.SSL_CTX_set_client_CA_list.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.SSL_CTX_set_client_CA_list.restype = None
    lib.X509_STORE_CTX_get_error.argtypes = [ctypes.c_void_p]
    lib.X509_STORE_CTX_get_error.restype = ctypes.c_int
    lib.X509_verify_cert_error_string.argtypes = [ctypes.c_long]
    lib.X509_verify_cert_error_string.restype = ctypes.c_char_p
    return lib


def _ssl_ctx(context: ssl.SSLContext, lib):
    """The SSL_CTX pointer of a CPython SSLContext (the first field after the object header),
    checked by reading back two verify modes set through the ssl module."""
    if sys.implementation.name != "cpython":
        return None
    pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    if not pointer:
        return None
    context.verify_mode = ssl.CERT_REQUIRED
    required = lib.SSL_CTX_get_verify_mode(pointer)
    context.verify_mode = ssl.CERT_OPTIONAL
    optional = lib.SSL_CTX_get_verify_mode(pointer)
    return pointer if (required, optional) == (0x03, _SSL_VERIFY_PEER) else None


def request_client_certificates(context: ssl.SSLContext, ca_file: Path) -> bool:
    """Makes a server context ask for client certificates issued by `ca_file` (whose names it
    sends as the acceptable CAs, as Go's ClientCAs does) without refusing any: True. False when
    it could only be set up to refuse, in the handshake, those that do not verify."""
    global _LIB
    context.load_verify_locations(cafile=str(ca_file))
    context.verify_mode = ssl.CERT_OPTIONAL
    try:
        lib = _LIB or _openssl()
        pointer = lib and _ssl_ctx(context, lib)
    except (OSError, AttributeError, ValueError) as error:
        lib = pointer = None
        print(f"kubeapi: client certificates are verified in the handshake ({error})", file=sys.stderr)
    if not pointer:
        print("kubeapi: client certificates that do not verify fail the handshake here "
              "(kube-apiserver answers 401 instead)", file=sys.stderr)
        return False
    _LIB = lib
    lib.SSL_CTX_set_verify(pointer, _SSL_VERIFY_PEER, _CALLBACK)
    names = lib.SSL_load_client_CA_file(str(ca_file).encode())
    if names:
        lib.SSL_CTX_set_client_CA_list(pointer, names)  # the context owns the list from here
    # A resumed session skips verification, so its error would go unseen: no resumption.
    context.num_tickets = 0
    lib.SSL_CTX_ctrl(pointer, _SSL_CTRL_SET_SESS_CACHE_MODE, _SSL_SESS_CACHE_OFF, None)
    return True


def handshake(connection: ssl.SSLSocket) -> PeerCertificate | None:
    """Completes the server side of the handshake (in the calling thread) and returns the client's
    certificate, with its verification error, or None when it sent none."""
    _handshake.error = None
    connection.do_handshake()
    der = connection.getpeercert(binary_form=True)
    if not der:
        return None
    return PeerCertificate(der, (connection.getpeercert() or {}).get("subject", ()), _handshake.error)
