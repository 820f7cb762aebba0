"""Analytical CRM models: churn risk, value, segments, tags, campaigns and KPIs.

``features`` (churn feature table, SQL), ``churn`` (calibrated LightGBM with reasons and
the logistic baseline), ``evaluation``, ``clv`` (BG/NBD, Gamma-Gamma), ``value``,
``segments``, ``knowledge`` (write-back as RDF), ``pipeline`` (train / score / report)
and ``report`` (HTML). See docs/models.md.
"""
