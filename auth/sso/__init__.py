"""OpenID Connect single sign-on, one identity provider per organisation."""

import warnings

import authlib.deprecate  # noqa: F401  (it installs an "always" filter; ours must come after)

# authlib 1.9 announces on import that a later release moves its HTTP client integration to
# httpx2. The integration works as documented today; the notice would only alarm operators.
warnings.filterwarnings("ignore", message="The httpx module is deprecated", category=Warning)
