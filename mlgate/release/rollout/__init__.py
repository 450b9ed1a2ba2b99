"""Canary rollouts: the policy (rollout.yaml), the stored state, the steps, the driver and the analysis."""
