"""The platform's password rule (docs/api.md §5).

Length ≥ 12 (configurable), composition (upper, lower, digit, special — switchable off, since
OWASP ASVS V2.1.9 advises against composition rules), zxcvbn score ≥ 2 with the user's own
email and name as penalised inputs, and not one of the 30 000 most common passwords (the list
zxcvbn ships). zxcvbn is scored on the first 72 characters (it raises beyond); anything that
long is far past the threshold anyway.

zxcvbn and its frequency lists (≈ 12 MB) load with the first password checked, not in every
worker: most workers only check tokens (docs/performance.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from user_service.exceptions import ValidationFailed
from user_service.kit.passwords import normalise_password

MAX_PASSWORD_LENGTH = 1024
_ZXCVBN_MAX = 72


@dataclass(frozen=True)
class PasswordRules:
    min_length: int = 12
    composition: bool = True
    min_score: int = 2


@dataclass(frozen=True)
class Violation:
    code: str
    message: str


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # loaded on first use (see above)

    return frozenset(FREQUENCY_LISTS["passwords"])


def find_violations(
    password: str, rules: PasswordRules, user_inputs: tuple[str, ...] = ()
) -> list[Violation]:
    password = normalise_password(password)
    violations: list[Violation] = []
    if len(password) < rules.min_length:
        violations.append(Violation("too_short", f"Use at least {rules.min_length} characters."))
    if len(password) > MAX_PASSWORD_LENGTH:
        violations.append(Violation("too_long", f"Use at most {MAX_PASSWORD_LENGTH} characters."))
        return violations
    if rules.composition:
        if not any(ch.isupper() for ch in password):
            violations.append(Violation("missing_uppercase", "Add an upper-case letter."))
        if not any(ch.islower() for ch in password):
            violations.append(Violation("missing_lowercase", "Add a lower-case letter."))
        if not any(ch.isdigit() for ch in password):
            violations.append(Violation("missing_digit", "Add a digit."))
        if all(ch.isalnum() or ch.isspace() for ch in password):
            violations.append(Violation("missing_special", "Add a special character."))
    if password.lower() in _common_passwords():
        violations.append(Violation("common_password", "This password is too common."))
    if password:
        inputs = [part for value in user_inputs for part in (value, *value.split("@"))]
        from zxcvbn import zxcvbn  # loaded on first use (see above)

        result = zxcvbn(password[:_ZXCVBN_MAX], user_inputs=inputs)
        if result["score"] < rules.min_score:
            hint = result["feedback"].get("warning") or "Add more words or characters."
            violations.append(
                Violation("too_guessable", f"This password is easy to guess. {hint}".strip())
            )
    return violations


def enforce(
    password: str, rules: PasswordRules, user_inputs: tuple[str, ...] = (), field: str = "password"
) -> None:
    violations = find_violations(password, rules, user_inputs)
    if violations:
        raise ValidationFailed(
            "The password does not meet the password policy.",
            code="weak_password",
            extra={
                "errors": [
                    {"field": field, "code": v.code, "message": v.message} for v in violations
                ]
            },
        )
