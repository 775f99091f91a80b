"""Accounts: users, vendor profiles and personal API tokens."""
