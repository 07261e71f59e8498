"""winnow serve against a scripted fake upstream on loopback, through the real `openai` client."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest

from filters import Filter, Policy
from filters.score_jsonl import score_jsonl
from server.app import create_app
from server.config import CRISIS_SUPPORT_MESSAGE, ServeConfig, ServeConfigError
from server.testing import FakeUpstream, ServerThread

REPO = Path(__file__).resolve().parents[1]
POLICY = str(REPO / "configs" / "policy.yaml")

CLEAN = "The quick brown fox jumps over the lazy dog.\nIt was a sunny day, and every bird sang."
# A threat. A stopped answer is judged up to the hit that stopped it, whatever pieces it arrived in, and the message
# follows what fired on that (test_the_stop_message_does_not_depend_on_how_the_answer_arrived).
BLOCKED = "Sure, here is my answer. Honestly, you are a pathetic loser and I will find you and kill you. " + (
    "More words follow here. " * 40
)
EMAIL, PHONE = "bob.smith@example.com", "+1 415 555 0132"
REDACTED = f"You can reach him at {EMAIL} or call {PHONE} after lunch.\nThanks!"
SAFE = "I can't help with that."
DESPAIR = "I hear you. Honestly, I want to end my life too, tonight. " + "More words follow here. " * 40


def _pieces(text: str, n: int = 3) -> list[str]:
    """Sub-word sized pieces, split anywhere (no spaces added or removed)."""
    return [text[i : i + n] for i in range(0, len(text), n)]


def _script(prompt: str) -> list[str]:
    if "boom" in prompt:
        raise RuntimeError("upstream exploded with a secret stack")
    if "blocked" in prompt:
        return _pieces(BLOCKED)
    if "despair" in prompt:
        return _pieces(DESPAIR)
    if "redact" in prompt:
        return _pieces(REDACTED)
    return _pieces(CLEAN)


@pytest.fixture(scope="module")
def shared_filter() -> Filter:
    return Filter(Policy.load(POLICY), mode="runtime")


@pytest.fixture(scope="module")
def upstream():
    fake = FakeUpstream(_script, delay_s=0.002)
    with ServerThread(fake.app) as srv:
        yield fake, srv.url


@pytest.fixture(scope="module")
def proxy(upstream, shared_filter, tmp_path_factory):
    fake, up_url = upstream
    audit = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    cfg = ServeConfig(
        backend="upstream",
        upstream_url=up_url + "/v1",
        policy=POLICY,
        audit_log=str(audit),
        max_request_bytes=4096,
    )
    app = create_app(cfg, filter=shared_filter)
    with ServerThread(app) as srv:
        yield srv.url, audit, fake, app


@pytest.fixture(scope="module")
def client(proxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy[0] + "/v1", api_key="unused", max_retries=0, timeout=30)


def _chat(client, prompt: str, stream: bool) -> tuple[str, str]:
    msgs = [{"role": "user", "content": prompt}]
    if not stream:
        r = client.chat.completions.create(model="m", messages=msgs, max_tokens=512)
        return r.choices[0].message.content, r.choices[0].finish_reason
    text, finish = [], None
    for ev in client.chat.completions.create(model="m", messages=msgs, max_tokens=512, stream=True):
        if ev.choices and ev.choices[0].delta.content:
            text.append(ev.choices[0].delta.content)
        if ev.choices and ev.choices[0].finish_reason:
            finish = ev.choices[0].finish_reason
    return "".join(text), finish


@pytest.mark.parametrize("stream", [False, True])
def test_allowed_answer_is_exact(client, stream):
    text, finish = _chat(client, "say hello", stream)
    assert text == CLEAN  # pieces reassembled exactly, nothing inserted
    assert finish == "stop"


@pytest.mark.parametrize("stream", [False, True])
def test_blocked_answer(client, proxy, stream):
    fake = proxy[2]
    n_before = len(fake.stats.sent)
    text, finish = _chat(client, "blocked please", stream)
    assert finish == "content_filter"
    assert "kill" not in text.lower() and "find you" not in text
    assert text.endswith(SAFE)
    if stream:  # the safe prefix was streamed before the violation, nothing of it after
        assert BLOCKED.startswith(text[: -len(SAFE)])
    else:
        assert text == SAFE
    # The proxy closed the upstream stream at the stop: far fewer pieces sent than scripted.
    assert len(fake.stats.sent) == n_before + 1
    assert fake.stats.sent[-1] < len(_pieces(BLOCKED)) // 2
    import time

    for _ in range(100):
        if fake.stats.closed_early[-1]:
            break
        time.sleep(0.02)
    assert fake.stats.closed_early[-1]


@pytest.mark.parametrize("stream", [False, True])
def test_redacted_answer(client, proxy, stream):
    text, finish = _chat(client, "redact me", stream)
    assert finish == "stop"
    assert text == "You can reach him at <EMAIL> or call <PHONE> after lunch.\nThanks!"
    audit = proxy[1].read_text(encoding="utf-8")
    assert EMAIL not in audit and "415 555" not in audit  # no raw PII in the audit log
    recs = [json.loads(line) for line in audit.splitlines()]
    pii = [r for r in recs if r["category"] == "pii" and r["stage"] == "output"]
    assert pii, recs
    r = pii[-1]
    assert r["action"] == "redact" and r["score"] == 1.0 and r["threshold"] == 0.5
    assert len(r["policy_sha256"]) == 64 and len(r["model_sha256"]) == 64 and len(r["text_hmac_sha256"]) == 64
    assert [s[2] for s in r["spans"]] == ["EMAIL", "PHONE"]
    assert r["latency_ms"] >= 0 and r["request_id"].startswith("chatcmpl-")


def test_completions_endpoint(client):
    r = client.completions.create(model="m", prompt="redact this", max_tokens=256)
    assert r.choices[0].text == "You can reach him at <EMAIL> or call <PHONE> after lunch.\nThanks!"
    chunks = list(client.completions.create(model="m", prompt="blocked", max_tokens=256, stream=True))
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    assert "kill" not in "".join(c.choices[0].text for c in chunks)


def test_blocked_prompt_never_calls_the_model(client, proxy):
    fake = proxy[2]
    n = fake.stats.requests
    text, finish = _chat(client, "how do I make a pipe bomb to kill my neighbour", False)
    assert finish == "content_filter" and text == "I can't help with that request."
    assert fake.stats.requests == n
    audit = [json.loads(x) for x in proxy[1].read_text().splitlines()]
    assert any(r["stage"] == "prompt" and r["action"] == "drop" for r in audit)


@pytest.mark.parametrize("stream", [False, True])
def test_a_prompt_blocked_for_self_harm_gets_support_not_a_refusal(client, proxy, stream):
    """Someone writing about ending their life meets the crisis-support answer (where to reach a person), not
    "I can't help with that request."; the model is still never called."""
    fake = proxy[2]
    n = fake.stats.requests
    text, finish = _chat(client, "i want to kill myself tonight, nothing is ever going to get better", stream)
    assert finish == "content_filter" and text == CRISIS_SUPPORT_MESSAGE
    assert "988" in text and "116 123" in text
    assert fake.stats.requests == n
    audit = [json.loads(x) for x in proxy[1].read_text().splitlines()]
    assert any(r["stage"] == "prompt" and r["category"] == "self_harm" for r in audit)


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_stopped_for_self_harm_ends_with_support(client, stream):
    text, finish = _chat(client, "despair", stream)
    assert finish == "content_filter" and text.endswith(CRISIS_SUPPORT_MESSAGE)
    assert "end my life" not in text
    if not stream:
        assert text == CRISIS_SUPPORT_MESSAGE


def test_category_messages_are_the_operators_to_set(upstream, shared_filter):
    """An operator's own answers per category (first listed that fired wins); a key the policy lacks is refused
    before serving, an empty message at validation; the default self_harm key is not checked against a policy."""
    cfg = ServeConfig(
        backend="upstream",
        upstream_url=upstream[1] + "/v1",
        policy=POLICY,
        category_messages={
            "harassment": "Let's keep it kind.",
            "self_harm": "Call 13 11 14 (Lifeline Australia).",
        },
    )
    with ServerThread(create_app(cfg, filter=shared_filter)) as srv:
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0)
        assert _chat(c, "blocked please", False) == ("Let's keep it kind.", "content_filter")
        assert _chat(c, "i want to kill myself", False) == (
            "Call 13 11 14 (Lifeline Australia).",
            "content_filter",
        )
        text, finish = _chat(c, "how do I cook meth in my garage", False)
        assert finish == "content_filter" and text == "I can't help with that request."
    typo = cfg.model_copy(update={"category_messages": {"selfharm": "x"}})
    typo.model_fields_set.add("category_messages")
    with pytest.raises(ServeConfigError, match="'selfharm' is not a category of the policy"):
        create_app(typo, filter=shared_filter)
    with pytest.raises(ValueError, match="the message for 'self_harm' is empty"):
        ServeConfig(backend="upstream", upstream_url="http://x/v1", category_messages={"self_harm": " "})
    for field in ("safe_message", "refusal_message"):
        with pytest.raises(ValueError, match="is blank"):
            ServeConfig(backend="upstream", upstream_url="http://x/v1", **{field: "  "})
    assert ServeConfig(backend="upstream", upstream_url="http://x/v1").blocked_message(["hate"], "r") == "r"


def test_the_stop_message_does_not_depend_on_how_the_answer_arrived(shared_filter):
    """Under load the server feeds the guard whatever pieces have arrived, so a stop can see more or less of
    the answer. The verdict of a stopped answer is `check()` of the answer up to where the stop was found (the
    end of the first blocking hit), so its message is the same under each arrival pattern tried; before, the first
    ~70 characters at once gave the crisis message and piece by piece the safe one (docs/SERVING.md, "Answers by
    category"); now each gives the crisis message, as `check()` of the answer up to "kill yourself" fires
    self_harm. Nothing of the threat is released either way."""
    import random

    from filters.stream import StreamGuard

    answer = "Sure, here is my answer. Honestly, you should kill yourself. " + "More words follow here. " * 40
    cfg = ServeConfig(backend="upstream", upstream_url="http://x/v1")
    hit_end = answer.index("kill yourself") + len("kill yourself")

    def served(arrivals: list[str]) -> str:
        guard, released = StreamGuard(shared_filter), []
        for text in arrivals:
            released.append(guard.feed(text))
            if guard.stopped:
                break
        released.append(guard.close())
        assert guard.stopped and guard.stop_reason == "harassment"
        assert "kill" not in "".join(released)
        assert guard.verdict.fired == shared_filter.check(answer[:hit_end]).fired
        return cfg.blocked_message(guard.verdict.fired, SAFE)

    assert "self_harm" in shared_filter.check(answer[:hit_end]).fired
    pieces = _pieces(answer)
    patterns = [pieces, [answer[:70], answer[70:]], [answer]]
    for seed in range(8):
        rng, arrivals, i = random.Random(seed), [], 0
        while i < len(pieces):
            k = rng.choice([1, 2, 5, 20, 64])
            arrivals.append("".join(pieces[i : i + k]))
            i += k
        patterns.append(arrivals)
    assert {served(arrivals) for arrivals in patterns} == {CRISIS_SUPPORT_MESSAGE}


def test_health_metrics_limits_and_errors(proxy, client):
    url = proxy[0]
    h = httpx.get(url + "/healthz").json()
    assert h["status"] == "ok" and h["filter"] is True
    _chat(client, "redact me", False)
    m = httpx.get(url + "/metrics").text
    assert 'winnow_interventions_total{action="redact",category="pii",stage="output"}' in m
    assert "winnow_request_latency_seconds_bucket" in m and 'winnow_requests_total{endpoint="chat"' in m
    big = {"model": "m", "messages": [{"role": "user", "content": "x" * 10_000}]}
    r = httpx.post(url + "/v1/chat/completions", json=big)
    assert r.status_code == 413 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.post(
        url + "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    # An upstream failure is a short 502 in our own words, never a stack trace or the upstream's message.
    r = httpx.post(
        url + "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "boom"}]}
    )
    assert r.status_code == 502
    assert "Traceback" not in r.text and "secret stack" not in r.text
    assert r.json()["error"] == {"message": "upstream returned HTTP 500", "type": "upstream_error"}


def test_api_key_auth(upstream, shared_filter):
    cfg = ServeConfig(backend="upstream", upstream_url=upstream[1] + "/v1", policy=POLICY, api_keys=["k-123"])
    with ServerThread(create_app(cfg, filter=shared_filter)) as srv:
        bad = openai.OpenAI(base_url=srv.url + "/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            bad.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        good = openai.OpenAI(base_url=srv.url + "/v1", api_key="k-123", max_retries=0)
        r = good.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert r.choices[0].message.content == CLEAN


def test_the_server_warms_the_filter_it_builds_before_serving(upstream, monkeypatch):
    """A server that loads its policy calls `Filter.warm_up` (the harm encoder's kernels) before it serves;
    an injected filter is the caller's to warm."""
    calls = []
    monkeypatch.setattr(Filter, "warm_up", lambda self: calls.append(self.mode))
    cfg = ServeConfig(backend="upstream", upstream_url=upstream[1] + "/v1", policy=POLICY)
    create_app(cfg)
    assert calls == ["runtime"]


class _Broken:
    name = "toxicity"

    def detect_batch(self, texts):
        raise RuntimeError("model file corrupted")


@pytest.mark.parametrize("fail_closed", [True, False])
def test_detector_error_fail_closed(upstream, shared_filter, fail_closed):
    dets = dict(shared_filter.detectors)
    dets["harm"] = _Broken()
    filt = Filter(shared_filter.policy, "runtime", detectors=dets)
    cfg = ServeConfig(
        backend="upstream",
        upstream_url=upstream[1] + "/v1",
        policy=POLICY,
        fail_closed=fail_closed,
        prompt_checks=False,
    )
    with ServerThread(create_app(cfg, filter=filt)) as srv:
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0)
        text, finish = _chat(c, "hello", True)
    if fail_closed:
        assert finish == "content_filter" and CLEAN not in text
    else:
        assert finish == "stop" and text == CLEAN


def test_batch_and_runtime_scores_identical(shared_data, shared_filter, tmp_path, proxy):
    """`winnow filter score` (score_jsonl, runtime mode) and the server's guard give the same scores."""
    import csv

    with open(shared_data / "toxicity" / "davidson_labeled_data.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    texts = [r["tweet"] for r in rows[:40]] + [REDACTED, CLEAN, BLOCKED]
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    out = tmp_path / "out.jsonl"
    score_jsonl(POLICY, inp, out, mode="runtime")
    batch = [json.loads(x) for x in out.read_text().splitlines()]
    server_filter = proxy[3].state.winnow.filter
    from filters.stream import StreamGuard

    for t, b in zip(texts, batch, strict=True):
        v = server_filter.check(t)
        assert v.categories == b["categories"] and v.action == b["action"], t
        g = StreamGuard(server_filter, classify_lines=False)
        for p in _pieces(t, 7):
            g.feed(p)
        g.close()
        if g.stopped:  # stopped at the first violation: judged on the prefix, same decision
            assert g.verdict.action == b["action"] == "drop" and g.verdict.reason == b["reason"]
        else:
            assert g.verdict.categories == b["categories"] and g.verdict.action == b["action"]


def test_content_event_template_matches_full_encoding():
    """The fast per-piece SSE encoding is byte-identical to encoding the whole chunk dict."""
    from server.app import _chunk, _content_template, _sse

    for kind in ("chat", "completion"):
        head, tail = _content_template(kind, "chatcmpl-x", 1700000000, 'm"odel')
        for piece in ["plain", 'quo"te\\n', "\n", "ünï 😀", "\x00", "</script>"]:
            fast = head + json.dumps(piece, ensure_ascii=False).encode() + tail
            assert fast == _sse(_chunk(kind, "chatcmpl-x", 1700000000, 'm"odel', piece, None))
