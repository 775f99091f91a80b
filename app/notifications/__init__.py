"""Notifications: an inbox of things that happened to a member's pools."""
