"""A test CA and one server certificate for every name the suite sends to (openssl CLI).

Clients trust the CA explicitly (curl --cacert, ssl cafile=); nothing is installed system-wide.
"""

import os
import subprocess
from pathlib import Path

SERVER_NAMES = ("api.openai.com", "api.anthropic.com", "huggingface.co", "exfil.test",
                "attacker.example")


class TestPki:
    __test__ = False

    def __init__(self, directory: Path):
        self.dir = directory
        # Readable by the unprivileged test user (the CA file is passed to its curl).
        os.chmod(directory, 0o755)
        self.ca = directory / "ca.pem"
        self.cert = directory / "server.pem"
        self.key = directory / "server.key"
        self._generate()

    def _openssl(self, *args: str) -> None:
        proc = subprocess.run(["openssl", *args], cwd=self.dir, capture_output=True, text=True,
                              timeout=30)
        if proc.returncode != 0:
            raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr.strip()}")

    def _generate(self) -> None:
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        self._openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                      "-subj", "/CN=credsentry kernel-test CA",
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self._openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr",
                      "-subj", "/CN=credsentry kernel-test server")
        sans = ",".join([f"DNS:{n}" for n in SERVER_NAMES] + ["IP:127.0.0.1"])
        (self.dir / "server.ext").write_text(
            f"subjectAltName={sans}\nbasicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n")
        self._openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                      "-CAcreateserial", "-out", "server.pem", "-days", "2",
                      "-extfile", "server.ext")
        for f in ("ca.pem", "server.pem"):
            os.chmod(self.dir / f, 0o644)
