"""`helpline kb examples export|import` against a real Redis."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import redis.asyncio as redis
from typer.testing import CliRunner

from helpline.bots.examples import ExampleStore, Source, Status
from helpline.bots.kb_cli import app
from tests.redis_server import RedisServer

from .conftest import KB_DIR


async def run(*args: str) -> tuple[int, str, str]:
    # In a thread: the command runs its own event loop.
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args))
    return result.exit_code, result.stdout, result.stderr


async def test_export_import_moves_approved_examples_between_deployments(
    r: redis.Redis, redis_server: RedisServer, tmp_path: Path
) -> None:
    store = ExampleStore(r)
    approved = await store.propose(
        "2fa-reset", "en", "lost my phone with the authenticator app", Source.LINK, who="agent:ann"
    )
    pending = await store.propose("password-reset", "en", "forgot my password", Source.MARKED)
    assert approved is not None and pending is not None
    await store.decide(approved.id, approve=True, who="agent:sue")
    out = tmp_path / "examples.jsonl"
    code, _, err = await run("examples", "export", str(out), "--redis-url", redis_server.url)
    assert code == 0 and "exported 1 approved example(s)" in err
    (line,) = out.read_text().splitlines()
    assert json.loads(line)["text"] == approved.text and json.loads(line)["decided_by"] == "agent:sue"

    await r.flushall()  # the other deployment
    code, stdout, _ = await run("examples", "import", str(out), "--kb", str(KB_DIR), "--redis-url", redis_server.url)
    assert code == 0 and "imported 1 example(s); 0 already approved" in stdout
    code, stdout, _ = await run("examples", "import", str(out), "--redis-url", redis_server.url)
    assert code == 0 and "imported 0 example(s); 1 already approved" in stdout
    (moved,) = await store.all()
    assert moved.id == approved.id and moved.status is Status.APPROVED
    code, stdout, _ = await run("examples", "export", "--redis-url", redis_server.url)
    assert code == 0 and stdout.strip() == line


async def test_a_bad_file_imports_nothing_and_names_its_lines(
    r: redis.Redis, redis_server: RedisServer, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"key": "2fa-reset", "language": "en", "text": "lost my phone"})
        + "\n"
        + json.dumps({"key": "no-such-article", "language": "en", "text": "hello there"})
        + "\n"
        + "[1, 2]\n"
    )
    code, _, err = await run("examples", "import", str(bad), "--kb", str(KB_DIR), "--redis-url", redis_server.url)
    assert code == 2
    assert "line 2: key: no article 'no-such-article'" in err and "line 3:" in err and "nothing imported" in err
    assert await ExampleStore(r).all() == []
    code, _, err = await run("examples", "import", str(tmp_path / "missing.jsonl"), "--redis-url", redis_server.url)
    assert code == 2 and "missing.jsonl" in err and "Traceback" not in err
    code, _, err = await run("examples", "export", "--redis-url", "redis://127.0.0.1:1")
    assert code == 2 and "cannot reach Redis" in err


async def test_eval_with_examples_measures_what_they_change(tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps(
            {
                "id": "q1",
                "language": "en",
                "expected": "2fa-reset",
                "text": "my codes app is gone after a factory reset, locked out",
            }
        )
        + "\n"
    )
    examples = tmp_path / "examples.jsonl"
    examples.write_text(
        json.dumps(
            {
                "id": "t1",
                "language": "en",
                "expected": "2fa-reset",
                "text": "factory reset wiped my code app, now im locked out",
            }
        )
        + "\n"
        + json.dumps({"id": "t2", "language": "en", "expected": None, "text": "will btc go up"})
        + "\n"
    )
    code, before, _ = await run("eval", "--kb", str(KB_DIR), str(questions), "--json")
    assert code == 0 and json.loads(before)["correct_rate"] == 0.0
    code, after, _ = await run("eval", "--kb", str(KB_DIR), str(questions), "--json", "--examples", str(examples))
    assert code == 0 and json.loads(after)["correct_rate"] == 1.0
    # the result names what it was measured with: the one approved example (the other is out of scope)
    assert json.loads(before)["setup"]["examples"] == 0 and json.loads(after)["setup"]["examples"] == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"language": "en", "text": "no article named"}) + "\n")
    code, _, err = await run("eval", "--kb", str(KB_DIR), str(questions), "--examples", str(bad))
    assert code == 2 and "--examples: line 1: key" in err
