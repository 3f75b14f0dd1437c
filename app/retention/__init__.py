"""Retention: what Teamwell removes once it has been kept long enough, and when."""
