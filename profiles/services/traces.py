"""Find and remove a person's email, phone number and platform identifiers from free text, JSON
and CSV rows.

Erasure blanks the profile's own columns; copies of its address live elsewhere (the send ledger,
error texts, tracking URLs, job payloads, uploads waiting for their import). ``PersonalTraces``
holds what to look for: the address in any letter case and URL-encoded, the phone number in
E.164, as national digits and formatted; the WeChat and WeCom identifiers as stored (at least
``_MIN_IDENTIFIER`` characters); and the former external ID, replaced only where a value
or a CSV cell is exactly it (a short ID inside a longer text may be anything).
"""

import csv
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

import phonenumbers

ERASED_TEXT = "[erased]"
_MIN_DIGITS = 6  # a shorter national number would match unrelated digits
_MIN_IDENTIFIER = 8  # a shorter identifier would match unrelated text


def _phone_forms(phone) -> list[str]:
    """Return the ways a phone number is written: E.164, national digits, national format."""
    if not phone:
        return []
    number = getattr(phone, "as_e164", None) or str(phone)
    forms = [number, quote(number, safe="")]
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return forms
    national = str(parsed.national_number)
    if len(national) >= _MIN_DIGITS:
        formatted = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        forms += [national, formatted, formatted.replace(" ", "-")]
    return forms


def _email_forms(email: str) -> list[str]:
    if not email:
        return []
    return [email, quote(email, safe=""), quote_plus(email)]


@dataclass(frozen=True)
class PersonalTraces:
    """What identifies one person in stored text, and what replaces it."""

    needles: tuple[str, ...]  # lower case, longest first
    external_id: str = ""
    placeholder: str = ""
    # the email (lower case), phone (E.164) and platform identifiers as stored
    addresses: tuple[str, ...] = ()
    _pattern: re.Pattern | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(
        cls,
        *,
        email: str,
        phone,
        external_id: str = "",
        placeholder: str = "",
        identifiers: tuple[str, ...] = (),
    ):
        """Return the traces of a person with this email, phone, external ID and WeChat or
        WeCom identifiers."""
        identifiers = tuple(value for value in identifiers if value)
        forms = {form.lower() for form in _email_forms(email) + _phone_forms(phone) if form}
        forms |= {value.lower() for value in identifiers if len(value) >= _MIN_IDENTIFIER}
        needles = tuple(sorted(forms, key=lambda form: (-len(form), form)))
        pattern = re.compile("|".join(map(re.escape, needles)), re.IGNORECASE) if needles else None
        addresses = tuple(
            value
            for value in (
                email.lower() if email else "",
                getattr(phone, "as_e164", "") or "",
                *identifiers,
            )
            if value
        )
        return cls(needles, external_id, placeholder, addresses, pattern)

    def __bool__(self) -> bool:
        return bool(self.needles or self.external_id)

    def found_in(self, text: str) -> bool:
        """Return whether ``text`` holds the address or the phone number."""
        return bool(self._pattern and text and self._pattern.search(text))

    def scrub(self, text: str) -> str:
        """Return ``text`` with every form of the address and phone number replaced."""
        if not self._pattern or not text:
            return text
        return self._pattern.sub(ERASED_TEXT, text)

    def scrub_json(self, value: Any) -> Any:
        """Return JSON data with its strings scrubbed and the external ID replaced."""
        if isinstance(value, str):
            if self.external_id and value == self.external_id:
                return self.placeholder
            return self.scrub(value)
        if isinstance(value, list):
            return [self.scrub_json(item) for item in value]
        if isinstance(value, dict):
            return {self.scrub(key): self.scrub_json(item) for key, item in value.items()}
        return value

    def line_matches(self, line: str) -> bool:
        """Return whether a CSV line is the person's: it holds a trace or a cell is the ID."""
        if self.found_in(line):
            return True
        if not self.external_id:
            return False
        try:
            cells = next(csv.reader([line]), [])
        except csv.Error:
            return False
        return any(cell.strip() == self.external_id for cell in cells)
