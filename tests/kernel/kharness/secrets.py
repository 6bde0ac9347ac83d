"""Synthetic, format-valid credentials and the scanner that proves none of them leaked.

Every key a test creates is generated here at run time and registered. At teardown the agent's
outputs and the clients' captured output are searched for each key, raw and base64-encoded at
every alignment; a hit fails the test and names the key by its registry number, never by value.
"""

import base64
import secrets
import zlib
import string
from dataclasses import dataclass
from pathlib import Path

_TOKEN = string.ascii_letters + string.digits + "_-"
_BASE32_UPPER = string.ascii_uppercase + "234567"
_AWS_SECRET = string.ascii_letters + string.digits + "/+"
_FRAGMENT = 10  # shortest run of a secret's characters that redact() removes


def _random(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def openai_project_key() -> str:
    return "sk-proj-" + _random(_TOKEN, 74) + "T3BlbkFJ" + _random(_TOKEN, 74)


def anthropic_key() -> str:
    return "sk-ant-api03-" + _random(_TOKEN, 93) + "AA"


def aws_access_key_id() -> str:
    return "AKIA" + _random(_BASE32_UPPER, 16)


def aws_secret_access_key() -> str:
    return _random(_AWS_SECRET, 40)


def github_pat() -> str:
    """A classic GitHub PAT: ghp_ + 30 base62 + the 6-character base62 CRC32 of those 30."""
    base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    body = _random(base62, 30)
    crc, check = zlib.crc32(body.encode()), ""
    for _ in range(6):
        crc, digit = divmod(crc, 62)
        check = base62[digit] + check
    return "ghp_" + body + check


def _base64_forms(secret: bytes) -> list[bytes]:
    """Substrings that any base64 text containing `secret` must contain, whatever the offset of
    the secret in the encoded data (3 alignments, standard and URL-safe alphabets)."""
    forms = []
    for pad in range(3):
        enc = base64.b64encode(b"\0" * pad + secret)
        # Drop the characters that mix in the padding bytes or the unknown bytes that follow.
        first = (pad * 8 + 5) // 6 if pad else 0
        core = enc[first:(len(pad * b"\0" + secret) * 8) // 6]
        forms.append(core)
        forms.append(core.translate(bytes.maketrans(b"+/", b"-_")))
    return forms


@dataclass
class _Entry:
    number: int
    kind: str
    needles: list[bytes]


class SecretRegistry:
    """Knows every synthetic secret of one test and where the test's outputs went."""

    def __init__(self):
        self._entries: list[_Entry] = []
        self._files: list[Path] = []
        self._texts: list[tuple[str, bytes]] = []

    def register(self, value: str, kind: str) -> str:
        raw = value.encode()
        self._entries.append(_Entry(len(self._entries) + 1, kind, [raw] + _base64_forms(raw)))
        return value

    def new(self, kind: str) -> str:
        """Generates and registers a synthetic key of `kind`: openai, anthropic, aws-id or
        aws-secret, github-pat."""
        makers = {"openai": openai_project_key, "anthropic": anthropic_key,
                  "aws-id": aws_access_key_id, "aws-secret": aws_secret_access_key,
                  "github-pat": github_pat}
        return self.register(makers[kind](), kind)

    def watch_file(self, path: Path) -> None:
        self._files.append(Path(path))

    def watch_text(self, label: str, data: bytes | str) -> None:
        self._texts.append((label, data.encode() if isinstance(data, str) else data))

    def redact(self, text: str) -> str:
        """`text` with every registered secret (raw or base64) and every run of 10 or more of its
        characters replaced by a label: pytest abbreviates long strings to a head and a tail,
        which must not survive either. Use it on anything that goes into a failure message."""
        data = text.encode(errors="surrogateescape")
        for e in self._entries:
            label = f"<secret#{e.number}:{e.kind}>".encode()
            for needle in e.needles:
                data = data.replace(needle, label)
            raw = e.needles[0]
            for start in range(len(raw) - _FRAGMENT + 1):
                fragment = raw[start:start + _FRAGMENT]
                if fragment in data:
                    data = data.replace(fragment, label)
        return data.decode(errors="replace")

    def leaks(self) -> list[str]:
        """One line per (secret, place) hit; the lines never contain the secret."""
        sources = [(label, data) for label, data in self._texts]
        for path in self._files:
            if path.is_file():
                sources.append((str(path), path.read_bytes()))
        found = []
        for label, data in sources:
            for e in self._entries:
                if data.find(e.needles[0]) >= 0:
                    found.append(f"secret #{e.number} ({e.kind}) found raw in {label}")
                elif any(data.find(n) >= 0 for n in e.needles[1:]):
                    found.append(f"secret #{e.number} ({e.kind}) found base64-encoded in {label}")
        return found
