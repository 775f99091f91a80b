"""Helpers of bench/reputation_sim.py: a synthetic marketplace where displayed scores drive sales."""
