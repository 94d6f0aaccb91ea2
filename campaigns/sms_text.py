"""The text of a marketing SMS as the provider sends and bills it: the opt-out suffix, the parts.

Aliyun and Tencent Cloud SMS put the signature (``【签名】``) in front of every text and count
the signature and the text together, every character one (a letter as much as a Chinese
character; a character outside the Basic Multilingual Plane, such as an emoji, two: UCS-2 code
units). Up to 70 fit in one message; a longer text is split into parts of 67 each, and every
part is billed. A marketing text must tell how to opt out: ``SMS_UNSUBSCRIBE_SUFFIX`` (default
"回T退订") is added at its end unless it already ends with an opt-out phrase.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

from django.conf import settings

SINGLE_PART = 70
MULTI_PART = 67
# Opt-out phrases a text may already end with (compared without case, width and punctuation).
OPT_OUT_ENDINGS = (
    "回t退订",
    "回td退订",
    "回复t退订",
    "回复td退订",
    "退订回t",
    "退订回td",
    "拒收请回复r",
    "回n退订",
    "replystop",
    "replystoptounsubscribe",
    "stoptoopt-out",
    "stoptooptout",
)
_URL = re.compile(r"https?://[^\s<>\"'，。！？、；：（）【】《》]+", re.IGNORECASE)
_TRAILING = ".,;:!?)"


@dataclass(frozen=True)
class SmsCount:
    """How long an SMS is as the provider counts it and into how many parts it is split."""

    length: int
    parts: int


def units(text: str) -> int:
    """Return the UCS-2 code units of ``text`` (a character beyond U+FFFF counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def sms_signature() -> str:
    """Return the signature the provider puts in front of each text, ``【name】`` ("": none)."""
    name = (settings.SMS_SIGN_NAME or "").strip()
    if not name:
        return ""
    return name if name.startswith("【") else f"【{name}】"


def sms_count(text: str, *, signature: str | None = None) -> SmsCount:
    """Return the length and parts of ``text`` with the signature (``SMS_SIGN_NAME`` unless
    given): up to 70 code units is one part, a longer text 67 a part; an empty text is none."""
    text = text or ""
    if not text:
        return SmsCount(0, 0)
    length = units((sms_signature() if signature is None else signature) + text)
    parts = 1 if length <= SINGLE_PART else math.ceil(length / MULTI_PART)
    return SmsCount(length, parts)


def _folded(text: str) -> str:
    """Return ``text`` without width, case, spaces and punctuation, for comparing phrases."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN" or ch == "-")


def has_opt_out(text: str) -> bool:
    """Return True if ``text`` ends with an opt-out phrase (``回T退订``, ``拒收请回复R``, the
    configured suffix …), whatever the width, case, spaces and punctuation around it."""
    folded = _folded(text)
    suffix = _folded(settings.SMS_UNSUBSCRIBE_SUFFIX or "")
    endings = (*OPT_OUT_ENDINGS, suffix) if suffix else OPT_OUT_ENDINGS
    return any(folded.endswith(ending) for ending in endings)


def opt_out_add(text: str, *, marketing: bool) -> str:
    """Return a marketing text with ``SMS_UNSUBSCRIBE_SUFFIX`` at its end, unless it already
    ends with an opt-out phrase; any other text (or an empty suffix) as it is."""
    suffix = settings.SMS_UNSUBSCRIBE_SUFFIX or ""
    if not marketing or not suffix or not text.strip() or has_opt_out(text):
        return text
    return f"{text.rstrip()}{suffix}"


def links_find(text: str) -> list[tuple[int, int, str]]:
    """Return (start, end, URL) of every http(s) link in ``text``, without the punctuation that
    ends a sentence after it."""
    found = []
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        if len(url) > len("https://"):
            found.append((match.start(), match.start() + len(url), url))
    return found


def links_replace(text: str, replace) -> str:
    """Return ``text`` with each http(s) link replaced by ``replace(url)``."""
    pieces, last = [], 0
    for start, end, url in links_find(text):
        pieces += [text[last:start], replace(url)]
        last = end
    pieces.append(text[last:])
    return "".join(pieces)
