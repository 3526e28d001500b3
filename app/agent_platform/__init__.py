"""Slipway's reference AI agent platform: the workload its roles deploy."""
