"""The HTTP floor of payments: its pages (web.py), its JSON API (api.py) and their input and output schemas."""
