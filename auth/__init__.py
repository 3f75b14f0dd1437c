"""Identity, tokens, single sign-on, and the permission policies shared by HTTP and WebSocket."""
