"""How a second step is proven: the factors a user holds and the codes they type."""

from enum import StrEnum
from typing import Literal


class MfaMethod(StrEnum):
    """A way to pass the MFA step: a TOTP code, a passkey, or a backup code."""

    TOTP = "totp"
    PASSKEY = "passkey"
    BACKUP_CODE = "backup_code"


FactorType = Literal[MfaMethod.TOTP, MfaMethod.PASSKEY]
"""A factor the user holds and names (a row of its own); backup codes are not one."""

CodeKind = Literal[MfaMethod.TOTP, MfaMethod.BACKUP_CODE]
"""What a typed code is."""
