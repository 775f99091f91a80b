"""gunicorn settings for Buyswarm: `gunicorn -c config/gunicorn.py wsgi:app` (flags given after override these).

Workers and the address come from the command line or GUNICORN_CMD_ARGS as usual.
"""

# The longest request line gunicorn reads (its maximum; the default is 4094). The app bounds every
# parameter itself and answers a bad one with a JSON 422; a longer line gets gunicorn's own 414 page.
limit_request_line = 8190
# Headers: gunicorn's defaults (100 fields of at most 8190 bytes). Bodies: MAX_CONTENT_LENGTH (413).
