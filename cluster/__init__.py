"""How Ray is reached (embedded local Ray or an existing cluster)."""
from cluster.connect import Connection, cluster_resources, connect, ensure_token_auth

__all__ = ["Connection", "cluster_resources", "connect", "ensure_token_auth"]
