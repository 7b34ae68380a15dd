"""Helpers shared by the cogs: permission checks and safe message sending (not extensions)."""
