"""Docker access: the engine, probes inside containers, builds, standalone containers, the compose
stack, the local registry and the policy on what a stack may ask for (below checks and reporters)."""
