"""Backups that restore: one archive of the database and the data directory's keys and files
(`teamwell backup` / `teamwell restore`, docs/operations.md)."""
