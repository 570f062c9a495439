"""Shared pieces of the molecular-dynamics properties (liquid_density, rdf, melting, heat_cool)."""
