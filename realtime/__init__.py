"""Realtime gateway: presence, secure messaging and WebRTC signalling over `/ws`."""
