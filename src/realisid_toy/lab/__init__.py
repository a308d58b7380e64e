"""Experiments in the toy world: the toy SDXL, the end-to-end recipe, the checks and the tables."""
