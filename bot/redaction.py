"""Secrets cut out of any text before it is written to a log.

Two kinds of rule, applied to the whole formatted line (message, arguments and traceback alike):
- shapes that are always secret: Fernet tokens (the encrypted columns, as SQL parameters),
  Slack tokens, the token part of webhook URLs, `Bearer …`, values of fields named like a key,
  secret, token, password or signature, URL-encoded form bodies (a setup modal submission is
  one) and long random-looking strings;
- exact values the process knows to be secret: the settings' secrets, and every API key,
  webhook secret and bot token that passes through the SecretBox (see bot/store/crypto.py).
"""

from __future__ import annotations

import re
import threading

MASK = "[redacted]"
MIN_KNOWN_LENGTH = 6  # shorter "secrets" would blank out ordinary words

_MASK_GROUP1 = r"\1" + MASK
_KEY_WORDS = ("key", "secret", "passw", "token", "signature", "authorization", "code")
# (rule, replacement, a cheap test that must pass before the rule runs: most log lines need none)
_ALWAYS = [
    # Fernet tokens: version byte 0x80 makes every one start with "gAAAAA".
    (re.compile(r"gAAAAA[A-Za-z0-9_\-=]{20,}"), MASK, lambda t, low: "gAAAAA" in t),
    # Slack tokens: xoxb-, xoxp-, xoxe-, xapp-…
    (re.compile(r"\bx(?:ox[a-z]|app)-[A-Za-z0-9-]+"), MASK, lambda t, low: "xox" in t or "xapp-" in t),
    # The per-connection token in a webhook URL.
    (re.compile(r"(/webhooks/[A-Za-z0-9_.-]+/)[^/\s?\"'#)]+"), _MASK_GROUP1, lambda t, low: "/webhooks/" in t),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + MASK,
     lambda t, low: "bearer" in low or "basic" in low),
    # URL-encoded form bodies and query strings: `payload=…` or two or more `name=value` joined by &.
    (re.compile(r"\bpayload=[^\s]+"), "payload=" + MASK, lambda t, low: "payload=" in t),
    (re.compile(r"(?:[\w.%\[\]-]+=[^\s&]*&)+[\w.%\[\]-]+=[^\s&)\"']*"), "[redacted form]",
     lambda t, low: "&" in t and "=" in t),
    # `api_key=…`, `"client_secret": "…"`, `'webhook_token': '…'`, `X-Api-Key: …`, `code=…`
    (re.compile(r"(?i)((?:\b|_)(?:[\w-]*?(?:api[_-]?key|secret|password|passwd|token|signature|authorization)"
                r"|(?<![\w-])code)[\"']?\s*[:=]\s*[\"']?)([^\"'\s,&;)}\]]+)"), _MASK_GROUP1,
     lambda t, low: ("=" in t or ":" in t) and any(word in low for word in _KEY_WORDS)),
]

# Anything else long and random-looking: 24+ url-safe characters with upper case, lower case and a
# digit, dash or underscore (webhook URL tokens in SQL parameters, provider keys of unknown shape).
_RUN = re.compile(r"[A-Za-z0-9_-]{24,}")


def _random_looking(word: str) -> bool:
    return (any(c.isupper() for c in word) and any(c.islower() for c in word)
            and any(c.isdigit() or c in "_-" for c in word))


class Redactor:
    def __init__(self) -> None:
        self._known: set[str] = set()
        self._known_pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, *secrets: str | None) -> None:
        """Remember exact secret values, so they are cut out whatever their shape."""
        fresh = {s.strip() for s in secrets if s and len(s.strip()) >= MIN_KNOWN_LENGTH} - self._known
        if not fresh:
            return
        with self._lock:
            self._known |= fresh
            # Longest first, so a secret that contains another is cut out whole.
            alternatives = sorted(self._known, key=len, reverse=True)
            self._known_pattern = re.compile("|".join(re.escape(s) for s in alternatives))

    def redact(self, text: str) -> str:
        pattern = self._known_pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        low = text.lower()
        for rule, replacement, worth_trying in _ALWAYS:
            if worth_trying(text, low):
                text = rule.sub(replacement, text)
        if _RUN.search(text):
            text = _RUN.sub(lambda m: MASK if _random_looking(m.group()) else m.group(), text)
        return text


REDACTOR = Redactor()


def remember_secret(*secrets: str | None) -> None:
    REDACTOR.add(*secrets)


def redact(text: str) -> str:
    return REDACTOR.redact(text)
