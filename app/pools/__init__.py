"""Pools: demand gathering, commitments and the pool lifecycle."""
