"""The HTTP floor of social: its pages (web.py), its JSON API (api.py) and their input and output schemas."""
