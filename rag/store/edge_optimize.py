"""Build a Qdrant Edge shard's HNSW index in a child process (see edge.py: optimize_in_child).

    python -m rag.store.edge_optimize <shard folder>
"""

from __future__ import annotations

import sys


def main(path: str) -> None:
    import qdrant_edge

    shard = qdrant_edge.EdgeShard.load(path)
    try:
        shard.optimize()
        shard.flush()
    finally:
        shard.close()


if __name__ == "__main__":
    main(sys.argv[1])
