"""Clubs: standing buying groups and their members. Below pools: a club pool asks its club who may see it."""
