"""Scheduled work that runs once: a jobs table, a runner in every process, handlers by kind."""
