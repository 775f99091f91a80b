"""The HTTP floor of reputation: its pages (web.py), its JSON API (api.py) and their input and output schemas."""
