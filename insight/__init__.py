"""Analytical CRM models: churn risk, value, segments, tags, campaigns and KPIs."""
