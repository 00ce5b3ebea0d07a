"""Stage 7: rollout strategies, the canary judge, the local router and the controller."""
