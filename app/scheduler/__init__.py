"""The scheduler process: periodic sweepers over the database (never inside web workers)."""
