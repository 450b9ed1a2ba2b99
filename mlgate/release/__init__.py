"""What happens to a version: register, gating, entering production, promote, smoke tests, rollout, rollback."""
