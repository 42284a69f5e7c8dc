"""Another process on an embedded store, driven over stdin/stdout by the Edge tests.

    python -m tests.rag.store_process <data_dir> <collection> reader
        JSON commands on stdin, one JSON answer per line on stdout:
        {"op": "count"} | {"op": "search", "dense": [...], "query": "...", "groups": [...], "limit": n}
        | {"op": "generation"}
    python -m tests.rag.store_process <data_dir> <collection> writer <documents> <points per document> [<qdrant url>]
        writes the documents in one session, flushing often, printing each document's number
        (to a Qdrant server when a URL is given; FAGPRAT_TEST_QDRANT_API_KEY is its key)
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path


def _point(doc: int, index: int, dim: int):  # type: ignore[no-untyped-def]
    from rag.store import ChunkPoint, SparseVector

    return ChunkPoint(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"doc-{doc}#{index}")),
        dense=[1.0 if j == (doc + index) % dim else 0.1 for j in range(dim)],
        sparse=SparseVector([doc + 1, 100_000 + index], [1.0, 0.5]),
        payload={
            "doc_id": f"file:doc-{doc}.md",
            "doc_hash": "v1",
            "chunk_index": index,
            "chunk_count": 0,
            "text": f"dokument {doc} bit {index}",
            "access_groups": ["nasjonal"],
        },
    )


def main() -> None:
    from rag.settings import Settings
    from rag.store import SearchFilter, SparseVector, Store

    data_dir, collection, role = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    url = sys.argv[6] if len(sys.argv) > 6 else ""
    settings = Settings(
        data_dir=data_dir, qdrant_url=url, qdrant_api_key=os.environ.get("FAGPRAT_TEST_QDRANT_API_KEY"), _env_file=None
    )
    store = Store(settings, collection=collection)
    if role == "writer":
        import rag.store.edge as edge

        edge.FLUSH_INTERVAL_S = 0.05  # so that a kill finds flushed work to resume
        documents, per_document = int(sys.argv[4]), int(sys.argv[5])
        dim = store.info().dimension
        with store.writing():
            for doc in range(documents):
                store.upsert([_point(doc, i, dim) for i in range(per_document)])
                print(doc, flush=True)
        print("published", flush=True)
        return
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "count":
            answer: object = store.count()
        elif command["op"] == "generation":
            answer = store.engine.details(collection).get("generation")  # type: ignore[attr-defined]
        else:
            hits = store.hybrid_search(
                command["dense"],
                SparseVector(command["sparse"], [1.0] * len(command["sparse"])),
                SearchFilter(command["groups"]),
                limit=command["limit"],
                dense_candidates=20,
                sparse_candidates=20,
                dense_weight=1.0,
                sparse_weight=1.0,
                rrf_k=60,
            )
            answer = [h.id for h in hits]
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
