"""SQL for password-reset tokens (stored as SHA-256 digests, never in clear)."""

from __future__ import annotations

from user_service.models import PasswordResetToken
from user_service.one_time_tokens import OneTimeTokens

_tokens = OneTimeTokens(PasswordResetToken)
add_reset_token = _tokens.add
reset_token_by_hash = _tokens.by_hash
invalidate_reset_tokens = _tokens.invalidate_outstanding
claim_reset_token = _tokens.claim
newest_reset_token_id = _tokens.newest_id
why_reset_token_unusable = _tokens.why_unusable
