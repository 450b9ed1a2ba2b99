"""Figures over data shared by analysis and monitoring: PSI and tests, request figures, the metric vocabulary."""
