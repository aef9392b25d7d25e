"""Keys and certificates for the test servers, made with the `openssl` command (no Python dependency).

One CA signs one serving certificate for 127.0.0.1/localhost that every kube-apiserver presents; each
cluster gets its own service-account signing key, so a token minted by one cluster is rejected by another,
as between real clusters. EC P-256 keys: generated in milliseconds, and accepted by kube-apiserver both for
serving and for service-account tokens (ES256).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_DAYS = "2"  # the servers live for one test session


@dataclass(frozen=True)
class ServingPki:
    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path


def _openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        raise RuntimeError("the `openssl` command is needed to make test certificates (apt-get install openssl)")
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {result.stderr.strip()}")


def ec_key(path: Path) -> Path:
    _openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        str(path),
        cwd=path.parent,
    )
    path.chmod(0o600)
    return path


def public_key(private: Path, path: Path) -> Path:
    _openssl("pkey", "-in", str(private), "-pubout", "-out", str(path), cwd=path.parent)
    return path


def serving_pki(directory: Path) -> ServingPki:
    """A CA and a serving certificate valid for 127.0.0.1, ::1 and localhost."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec_key(directory / "ca.key")
    ca_cert = directory / "ca.crt"
    _openssl(
        "req", "-x509", "-new", "-key", str(ca_key), "-out", str(ca_cert), "-days", _DAYS,
        "-subj", "/CN=m4d-testenv-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        cwd=directory,
    )  # fmt: skip
    key = ec_key(directory / "serving.key")
    csr = directory / "serving.csr"
    _openssl("req", "-new", "-key", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1", cwd=directory)
    extensions = directory / "serving.ext"
    extensions.write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n"
        # Python 3.13+ verifies strictly (VERIFY_X509_STRICT) and rejects a leaf without key identifiers.
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    cert = directory / "serving.crt"
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(cert), "-days", _DAYS, "-extfile", str(extensions),
        cwd=directory,
    )  # fmt: skip
    return ServingPki(ca_cert=ca_cert, ca_key=ca_key, cert=cert, key=key)
