"""Request and response bodies of organisation single sign-on. The client secret goes in, never
out: no response schema has a field for it."""

from __future__ import annotations

import uuid
from datetime import datetime
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class SsoProviderListing(BaseModel):
    """An organisation whose people can sign in with its identity provider (public)."""

    organisation_slug: str
    organisation_name: str


class SsoProviderSettings(BaseModel):
    """An organisation's OpenID Connect provider, as its admin enters it."""

    issuer: str = Field(
        min_length=8,
        max_length=500,
        description="The provider's issuer URL; discovery is read from "
        "<issuer>/.well-known/openid-configuration",
        examples=["https://login.example.org/realms/tyneside"],
    )
    client_id: str = Field(min_length=1, max_length=200)
    client_secret: SecretStr | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="Stored encrypted and never shown again. Leave out to keep the stored one.",
    )
    enabled: bool = True

    @field_validator("issuer")
    @classmethod
    def issuer_is_a_plain_url(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("the issuer must be an https:// URL")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("the issuer must not carry a query, a fragment or credentials")
        return value

    @field_validator("client_id")
    @classmethod
    def client_id_is_trimmed(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the client id must not be blank")
        return value


class SsoProviderPublic(BaseModel):
    """An organisation's provider settings, without the secret."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organisation_id: uuid.UUID
    issuer: str
    client_id: str
    enabled: bool
    created_at: datetime
    redirect_uri: str = Field(
        description="Register this exact redirect URI for the client at the provider"
    )


class SsoExchangeRequest(BaseModel):
    code: str = Field(min_length=1, max_length=200, description="The code from /#/sso/<code>")


class SsoFailurePublic(BaseModel):
    """Why a sign-in through the identity provider failed, in the words the web client shows."""

    failure: str = Field(description="The key from /#/sso/failed/<failure>")
    detail: str
