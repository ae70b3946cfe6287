"""Every table, imported here so ``Base.metadata`` is complete for Alembic."""

from user_service.models.audit_retention import AuditChainAnchor, AuditDailyCount
from user_service.models.auth_event import AuthEvent
from user_service.models.external_identity import ExternalIdentity, OidcFlow
from user_service.models.mfa_challenge import MfaChallenge
from user_service.models.mfa_passkey import MfaPasskey, WebauthnChallenge
from user_service.models.mfa_totp import MfaBackupCode, MfaBackupKey, MfaTotp
from user_service.models.oauth_client import OAuthClient, RevokedToken
from user_service.models.one_time_token import (
    AccountActionToken,
    EmailVerificationToken,
    PasswordResetToken,
)
from user_service.models.outbox_event import OutboxEvent
from user_service.models.policy import Policy
from user_service.models.refresh_token import RefreshToken
from user_service.models.role import Role, UserRole
from user_service.models.session import UserSession
from user_service.models.sign_in_marker import MarkerKind, SignInMarker
from user_service.models.signing_key import JwtSigningKey, SigningKeyStatus
from user_service.models.trading_account import (
    TradingAccount,
    TradingAccountMembership,
    TradingAccountStatus,
)
from user_service.models.user import User, UserStatus
from user_service.models.user_preferences import UserPreferences

__all__ = [
    "AccountActionToken",
    "AuditChainAnchor",
    "AuditDailyCount",
    "AuthEvent",
    "EmailVerificationToken",
    "ExternalIdentity",
    "JwtSigningKey",
    "MarkerKind",
    "MfaBackupCode",
    "MfaBackupKey",
    "MfaChallenge",
    "MfaPasskey",
    "MfaTotp",
    "OAuthClient",
    "OidcFlow",
    "OutboxEvent",
    "PasswordResetToken",
    "Policy",
    "RefreshToken",
    "RevokedToken",
    "Role",
    "SignInMarker",
    "SigningKeyStatus",
    "TradingAccount",
    "TradingAccountMembership",
    "TradingAccountStatus",
    "User",
    "UserPreferences",
    "UserRole",
    "UserSession",
    "UserStatus",
    "WebauthnChallenge",
]
