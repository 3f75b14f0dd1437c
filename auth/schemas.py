from __future__ import annotations

from pydantic import BaseModel, Field

from app.users.schemas import UserPublic


class LoginRequest(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=200)


class MfaLoginRequest(BaseModel):
    mfa_token: str = Field(min_length=10, max_length=2000)
    code: str = Field(min_length=6, max_length=32, description="A TOTP code or a recovery code")


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=10, max_length=200)


class LogoutRequest(BaseModel):
    refresh_token: str | None = Field(default=None, max_length=200)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    user: UserPublic
    mfa_enrolment_required: bool = False


class MfaChallenge(BaseModel):
    mfa_required: bool = True
    mfa_token: str


class MfaEnrolment(BaseModel):
    secret: str
    otpauth_uri: str


class MfaVerifyRequest(BaseModel):
    code: str = Field(min_length=6, max_length=8, pattern=r"^\d{6,8}$")


class MfaVerified(TokenResponse):
    recovery_codes: list[str]


class RecoveryCodesRequest(BaseModel):
    """Step-up: replacing the recovery codes asks for the password and a current code again,
    so that an access token alone (one that was stolen) cannot mint a second factor."""

    password: str = Field(min_length=1, max_length=200)
    code: str = Field(
        min_length=6, max_length=8, pattern=r"^\d{6,8}$", description="A code from the app"
    )


class RecoveryCodes(BaseModel):
    recovery_codes: list[str]
