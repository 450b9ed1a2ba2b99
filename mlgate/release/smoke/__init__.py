"""Smoke tests: in process or against an endpoint, and the reference predictions they compare with."""
