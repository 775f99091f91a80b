"""Buyswarm, a customer-run buying marketplace.

The HTTP floor (the app factory, `app.web.create_app`) sits on the domain packages (accounts, pools,
bids, payments, reputation, social), which sit on the core (db, money, clock, errors, audit). This
package itself imports nothing, so `import app.bids.clearing` loads no web framework.
"""
