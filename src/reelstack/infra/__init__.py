"""Adapters for every outside role: each a small Protocol with an embedded and a scale-out form."""
