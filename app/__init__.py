"""Teamwell: a remote multidisciplinary team for integrated mental-health and employment support."""
