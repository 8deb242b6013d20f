"""A real S3-compatible server on loopback for the file store's tests: moto's server (it speaks
the S3 wire protocol) in a thread, and a bucket made for each test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

ACCESS_KEY, SECRET_KEY = "helpline-test-access", "helpline-test-secret"
_buckets = itertools.count(1)


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:<port>

    def client(self) -> Any:
        from minio import Minio

        return Minio(self.endpoint.removeprefix("http://"), ACCESS_KEY, SECRET_KEY, secure=False, region="us-east-1")

    def new_bucket(self) -> str:
        name = f"helpline-files-{next(_buckets)}"
        self.client().make_bucket(name)
        return name

    def keys(self, bucket: str) -> list[str]:
        return sorted(o.object_name for o in self.client().list_objects(bucket, recursive=True))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer  # imported by the tests that use it only

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield S3Server(f"http://{host}:{port}")
    server.stop()


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPLINE_S3_ACCESS_KEY", ACCESS_KEY)
    monkeypatch.setenv("HELPLINE_S3_SECRET_KEY", SECRET_KEY)
