"""Error messages with a stable code: stored as code and parameters, shown in the reader's language.

A message is defined once as a module constant, ``ERROR_X = coded("app.x", gettext_noop("…"))``:
``makemessages`` extracts the English text, the constant stays a plain ``str`` (so ``format``
and comparisons work as before), and ``ERROR_X.record(**params)`` gives what a job or send row
stores. ``error_text`` turns a stored error back into words at display time, in the active
language; rows stored before codes existed hold English text and are shown as they are.
"""

import json
from typing import Any

from django.utils.translation import gettext

_FIELDS = ("code", "message", "params")


class Coded(str):
    """An English message template (a msgid) that carries a stable, language-free code."""

    code: str

    def __new__(cls, code: str, message: str) -> "Coded":
        made = super().__new__(cls, message)
        made.code = code
        return made

    def record(self, **params: Any) -> dict:
        """Return the stored form of this error with ``params``: code, template and parameters."""
        return {"code": self.code, "message": str(self), "params": _plain(params)}

    def dumps(self, **params: Any) -> str:
        """Return ``record`` as JSON text, for a text column such as ``Job.error``."""
        return json.dumps(self.record(**params), ensure_ascii=False)


def coded(code: str, message: str) -> Coded:
    """Return ``message`` marked with ``code``; mark ``message`` itself with ``gettext_noop``."""
    return Coded(code, message)


class CodedError(Exception):
    """An error raised with a message template and its parameters; ``str()`` gives English."""

    def __init__(self, message: str, **params: Any):
        self.message = message
        self.params = params
        super().__init__(_formatted(str(message), str(message), params) if params else message)

    def record(self) -> dict:
        """Return the stored form: code (empty for an uncoded message), template and parameters."""
        code = getattr(self.message, "code", "")
        return {"code": code, "message": str(self.message), "params": _plain(self.params)}

    def dumps(self) -> str:
        """Return ``record`` as JSON text, for a text column such as ``Job.error``."""
        return json.dumps(self.record(), ensure_ascii=False)


def _plain(params: dict) -> dict:
    """Return ``params`` with values JSON can hold: a coded error as its record, else text."""
    plain = {}
    for key, value in params.items():
        if isinstance(value, CodedError):
            value = value.record()
        if _parsed(value) is not None or isinstance(value, str | int | float | bool | None):
            plain[key] = value  # a nested record is shown in words in its turn
        else:
            plain[key] = str(value)
    return plain


def _parsed(stored: Any) -> dict | None:
    """Return the record held in ``stored`` (a dict or its JSON text), or None for plain text."""
    if isinstance(stored, str) and stored.startswith('{"code"'):
        try:
            stored = json.loads(stored)
        except ValueError:
            return None
    if isinstance(stored, dict) and all(field in stored for field in _FIELDS):
        return stored
    return None


def error_code(stored: Any) -> str:
    """Return the code of a stored error, or "" for an error stored as plain text."""
    record = _parsed(stored)
    return record["code"] if record else ""


def error_text(stored: Any, *, translate: bool = True) -> str:
    """Return a stored error in words: translated when ``translate``, else in English.

    ``stored`` is a record, its JSON text, or plain text (rows from before codes, or words from
    outside, such as an SMTP server's reply, which are shown as they came).
    """
    record = _parsed(stored)
    if record is None:
        text = "" if stored is None else str(stored)
        return gettext(text) if translate and text else text
    template = record["message"]
    params = {
        key: error_text(value, translate=translate) if _parsed(value) else value
        for key, value in (record["params"] or {}).items()
    }
    return _formatted(gettext(template) if translate else template, template, params)


def _formatted(template: str, english: str, params: dict) -> str:
    """Return ``template`` filled with ``params``, or the English one if the translation breaks."""
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        try:
            return english.format(**params)
        except (KeyError, IndexError, ValueError):
            return english
