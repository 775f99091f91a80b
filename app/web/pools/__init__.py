"""The HTTP floor of pools: its pages (web.py), its JSON API (api.py) and their input and output schemas."""
