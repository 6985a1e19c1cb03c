"""API keys with scopes: who may call what.

Keys come from a file (ALI_API_KEYS_FILE, meant to be a mounted secret), one key a line:

    # NAME   SCOPES            SHA256 of the key, hex
    ci       infer,read        9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08

and, for local use, ALI_API_KEY (one key, every scope). The file never holds a key itself, only its
SHA-256; a presented key is hashed and compared in constant time with every known hash. The file
is re-read when it changes (checked at most once a second), so a key is rotated by replacing the
file: no restart. With neither setting, auth is off.

Scopes: `infer` (the domain endpoints and v2 infer), `read` (model lists, metadata, v2 config),
`admin` (model lifecycle, when it lands), `metrics` (/metrics, when ALI_PROTECT_METRICS is set).
Health and readiness, the playground page and the docs stay open: probes carry no keys, and the
docs and page hold no data (the page asks for a key when the API answers 401).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SCOPES = ("infer", "read", "admin", "metrics")
_LINE = re.compile(r"^(\S+)\s+(\S+)\s+([0-9a-fA-F]{64})$")
RECHECK_S = 1.0  # how often the key file's stat is looked at, at most


@dataclass(frozen=True)
class ApiKey:
    name: str
    scopes: frozenset[str]
    digest: bytes  # sha256 of the key


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def parse_keys(text: str, source: str = "key file") -> list[ApiKey]:
    """`NAME SCOPES SHA256` lines ('#' comments, blank lines) -> keys; ValueError naming the line."""
    keys, names = [], set()
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = _LINE.match(line)
        if m is None:
            raise ValueError(f"{source} line {n}: expected 'NAME SCOPES SHA256' (64 hex digits)")
        name, scopes, hexdigest = m.groups()
        wanted = frozenset(scopes.split(","))
        unknown = sorted(wanted - set(SCOPES))
        if unknown:
            raise ValueError(f"{source} line {n}: unknown scopes {unknown}; known: {SCOPES}")
        if name in names:
            raise ValueError(f"{source} line {n}: key name {name!r} appears twice")
        names.add(name)
        keys.append(ApiKey(name, wanted, bytes.fromhex(hexdigest)))
    return keys


class KeyRing:
    """The keys in force: the file's (re-read on change) and the single ALI_API_KEY."""

    def __init__(self, path: Path | None, single_key: str | None) -> None:
        self.path = path
        self._single = (
            [ApiKey("api-key", frozenset(SCOPES), digest(single_key))] if single_key else []
        )
        self._file_keys: list[ApiKey] = []
        self._stat: tuple[int, int, int] | None = None  # (inode, size, mtime ns) last read
        self._checked = 0.0
        if path is not None:
            self._reload(first=True)

    @property
    def enabled(self) -> bool:
        return self.path is not None or bool(self._single)

    def lookup(self, presented: str) -> ApiKey | None:
        """The key whose hash matches, comparing with every key (constant time per key)."""
        self._maybe_reload()
        d = digest(presented)
        found = None
        for key in (*self._single, *self._file_keys):
            if hmac.compare_digest(d, key.digest):
                found = key
        return found

    # ---- the key file ----------------------------------------------------------------------
    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if self.path is None or now - self._checked < RECHECK_S:
            return
        self._checked = now
        self._reload()

    def _reload(self, first: bool = False) -> None:
        assert self.path is not None
        try:
            st = os.stat(self.path)
            stat = (st.st_ino, st.st_size, st.st_mtime_ns)
            if stat == self._stat:
                return
            keys = parse_keys(self.path.read_text(), str(self.path))
        except (OSError, ValueError) as e:
            if first:
                raise ValueError(f"ALI_API_KEYS_FILE: {e}") from None
            log.error("key file not reloaded, the keys before stay in force: %s", e)
            return
        self._stat, self._file_keys = stat, keys
        log.info("key file %s: %d keys (%s)", self.path, len(keys), ", ".join(k.name for k in keys))


def presented_key(headers: dict[str, str]) -> str | None:
    """`Authorization: Bearer KEY`, else `x-api-key: KEY` (tritonclient's headers=)."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return headers.get("x-api-key") or None
