"""How Ray is reached (embedded local Ray or an existing cluster)."""
from cluster.connect import Connection, cluster_resources, connect

__all__ = ["Connection", "cluster_resources", "connect"]
