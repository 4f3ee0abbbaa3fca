"""Keep secrets out of what we write: a URL's password (store, MLflow, endpoint URLs) and the values of keys that
name a secret (`hf_token`, `password`, `api_key` ...) are masked before they reach results, reports or messages."""

from __future__ import annotations

import math
import re
from typing import Any

SECRET_WORDS = ("password", "passwd", "secret", "credential", "apikey", "api_key", "private_key", "authorization")
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*)(?::[^@/\s]*)?@", re.IGNORECASE)


def redact_url(text: str) -> str:
    """`postgresql+psycopg://bench:pw@db/bench` → `postgresql+psycopg://bench:***@db/bench` (anywhere in `text`)."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@" if m.group(0).count(":") > 1 else m.group(0),
                         text)


def is_secret_key(name: Any) -> bool:
    """A key whose value is a credential: it names a password, secret or API key, or a token (`hf_token`,
    `accessToken`; not `max_tokens`, `tokenizer` or `output_tokens_per_s`, which are not secrets)."""
    low = str(name).lower()
    if any(word in low for word in SECRET_WORDS):
        return True
    return low.endswith("token")


def redact(value: Any) -> Any:
    """A copy of a JSON-like value with secret-named keys masked and URL passwords removed from every string."""
    if isinstance(value, dict):
        return {k: ("***" if is_secret_key(k) and v not in (None, "") else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_url(value)
    return value


def json_safe(value: Any) -> Any:
    """NaN and infinities are not JSON (JSON.parse and PostgreSQL refuse them): null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
