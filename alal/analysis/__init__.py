"""Analysis of MD output shared by the validation properties (no plotting, no calculators).

  rdf.py     radial distribution function, first-peak/minimum analysis, coordination number, self-diffusion
  cna.py     common-neighbour analysis (OVITO's adaptive CNA): per-atom labels and structure fractions
  blocks.py  block averages with standard errors for correlated time series
"""
