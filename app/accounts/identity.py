"""A vendor's payout identity: bank details and tax number, kept only as a keyed fingerprint. Pure.

Two vendor accounts paid into the same bank account (or, with Stripe, the same external account)
are one identity: they share one reputation, and a closed (banned) identity stays closed. The
details themselves are never stored: `fingerprint` is an HMAC-SHA256 under a server secret
(`IDENTITY_KEY`), so the table cannot be reversed, or matched without the key, by whoever reads it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import string
from dataclasses import dataclass

IBAN_LENGTHS = {  # the countries Buyswarm pays out in, with their IBAN lengths (ISO 13616)
    "AT": 20, "BE": 16, "CH": 21, "DE": 22, "DK": 18, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "IE": 22,
    "IT": 27, "LU": 20, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "SE": 24,
}  # fmt: skip


class IdentityError(ValueError):
    """Details that do not parse, with the field they are about."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class PayoutIdentity:
    """Normalised payout details: a bank account (an IBAN, or a UK sort code and account number) and a tax number."""

    bank: str  # "iban:GB29NWBK60161331926819" or "uk:601613:31926819"
    tax_number: str  # upper case, letters and digits only

    def fingerprint(self, key: bytes) -> str:
        """The keyed hash that identifies the bank account (the tax number is checked, not matched)."""
        return hmac.new(key, self.bank.encode(), hashlib.sha256).hexdigest()


def parse_identity(
    *, iban: str | None = None, sort_code: str | None = None, account_number: str | None = None, tax_number: str
) -> PayoutIdentity:
    """Normalise and check payout details; IdentityError names the field that is wrong."""
    tax = re.sub(r"[\s.\-/]", "", tax_number or "").upper()
    if not 5 <= len(tax) <= 20 or not tax.isalnum() or not tax.isascii():
        raise IdentityError("tax_number", "Enter the tax number: 5 to 20 letters and digits.")
    if iban:
        return PayoutIdentity(f"iban:{normalise_iban(iban)}", tax)
    if sort_code or account_number:
        code = re.sub(r"[\s\-]", "", sort_code or "")
        number = re.sub(r"\s", "", account_number or "")
        if not re.fullmatch(r"\d{6}", code):
            raise IdentityError("sort_code", "A sort code is 6 digits, like 60-16-13.")
        if not re.fullmatch(r"\d{8}", number):
            raise IdentityError("account_number", "A UK account number is 8 digits.")
        return PayoutIdentity(f"uk:{code}:{number}", tax)
    raise IdentityError("iban", "Give an IBAN, or a UK sort code and account number.")


def normalise_iban(text: str) -> str:
    """The IBAN without spaces, upper case, checked by country length and its mod-97 check digits."""
    iban = re.sub(r"\s", "", text).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{8,30}", iban):
        raise IdentityError("iban", "An IBAN starts with a country code and two check digits, like GB29 NWBK 6016 …")
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is None:
        raise IdentityError("iban", f"Buyswarm does not pay out to {iban[:2]} accounts yet.")
    if len(iban) != expected:
        raise IdentityError("iban", f"A {iban[:2]} IBAN has {expected} characters; this one has {len(iban)}.")
    digits = "".join(str(string.ascii_uppercase.index(c) + 10) if c.isalpha() else c for c in iban[4:] + iban[:4])
    if int(digits) % 97 != 1:
        raise IdentityError("iban", "This IBAN's check digits do not match: check it for a typing error.")
    return iban


def provider_fingerprint(key: bytes, provider: str, fingerprint: str) -> str:
    """The keyed hash of a payment provider's own bank-account fingerprint (Stripe's external account)."""
    return hmac.new(key, f"{provider}:{fingerprint}".encode(), hashlib.sha256).hexdigest()
