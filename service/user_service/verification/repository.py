"""SQL for email-verification tokens (stored as SHA-256 digests, never in clear)."""

from __future__ import annotations

from user_service.models import EmailVerificationToken
from user_service.one_time_tokens import OneTimeTokens

_tokens = OneTimeTokens(EmailVerificationToken)
add_token = _tokens.add  # with email=…: the address the token verifies
token_by_hash = _tokens.by_hash
invalidate_tokens = _tokens.invalidate_outstanding
claim_token = _tokens.claim
newest_token_id = _tokens.newest_id
why_token_unusable = _tokens.why_unusable
