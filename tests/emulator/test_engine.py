"""ReplicaEngine: continuous batching worked by hand on a round-number profile."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest

from controlplane.capacity.engine import ABORTED, FINISHED, FIRST_TOKEN, PREEMPTED, ReplicaEngine
from controlplane.capacity.profile import PROFILES, PerformanceProfile, get_profile

# step(b, p) = 0.010 + 0.001 * b + 0.0001 * p seconds
P = PerformanceProfile(
    name="test",
    model_name="m",
    max_num_seqs=2,
    max_num_batched_tokens=100,
    kv_cache_tokens=1000,
    block_size=16,
    max_model_len=1000,
    prefill_s_per_token=1e-4,
    decode_base_s=0.010,
    decode_per_seq_s=0.001,
    startup_s=0.0,
)


def drain(engine: ReplicaEngine) -> list:
    events = []
    while (t := engine.next_event_time()) is not None:
        events.extend(engine.advance(t))
    return events


def finished(events: list) -> dict:
    return {e.req_id: e.stats for e in events if e.kind == FINISHED}


def test_single_request_ttft_is_one_prefill_step_and_decode_is_steps_of_one():
    e = ReplicaEngine(P)
    e.submit("a", 5.0, prompt_tokens=50, max_tokens=11)
    s = finished(drain(e))["a"]
    # prefill step: 0.010 + 0.001*1 + 0.0001*50 = 0.016 s, first token at its end
    assert s.ttft == pytest.approx(0.016)
    assert s.prefill_time == pytest.approx(0.016)
    assert s.queue_time == 0.0
    # 10 more tokens at step(1) = 0.011 s each
    assert s.decode_time == pytest.approx(0.110)
    assert s.e2e == pytest.approx(0.126)
    assert s.time_per_output_token == pytest.approx(0.011)
    assert (s.prompt_tokens, s.generation_tokens, s.preemptions) == (50, 11, 0)
    assert e.num_running == 0 and e.kv_cache_usage == 0.0


def test_batching_slows_every_step():
    e = ReplicaEngine(P)
    e.submit("a", 0.0, 50, 11)
    e.submit("b", 0.0, 50, 11)
    s = finished(drain(e))
    # one shared prefill step: 0.010 + 0.001*2 + 0.0001*100 = 0.022 s
    # then 10 decode steps at step(2) = 0.012 s: finish at 0.022 + 0.120 = 0.142
    for rid in "ab":
        assert s[rid].ttft == pytest.approx(0.022)
        assert s[rid].decode_time == pytest.approx(0.120)
        assert s[rid].finished == pytest.approx(0.142)


@pytest.mark.parametrize(
    "name, prompt, chunks",
    [
        # budget 100 tokens/step: 250 tokens -> chunks 100, 100, 50
        ("three chunks", 250, [100, 100, 50]),
        ("exactly one budget", 100, [100]),
    ],
)
def test_chunked_prefill_takes_one_step_per_chunk(name, prompt, chunks):
    e = ReplicaEngine(P)
    e.submit("a", 0.0, prompt, 2)
    s = finished(drain(e))["a"]
    expected = sum(P.step_time(1, c) for c in chunks)
    assert s.ttft == pytest.approx(expected), name


def test_arrival_mid_decode_joins_at_next_step_boundary():
    e = ReplicaEngine(P)
    e.submit("a", 0.0, 10, 100)
    # a: prefill step 0.010+0.001+0.001 = 0.012; decode steps of 0.011 from 0.012
    assert e.advance(0.05)[0].kind == FIRST_TOKEN
    e.submit("b", 0.05, 10, 2)
    # boundaries after 0.012: 0.023, 0.034, 0.045, 0.056 -> b joins at 0.056
    # that step has a decoding (1) + b's 10-token chunk: 0.010 + 0.002 + 0.001 = 0.013
    ev = [x for x in drain(e) if x.req_id == "b"]
    assert ev[0].kind == FIRST_TOKEN
    assert ev[0].time == pytest.approx(0.056 + 0.013)
    assert ev[-1].stats.queue_time == pytest.approx(0.006)


def test_requests_beyond_max_num_seqs_wait_fifo():
    e = ReplicaEngine(P)
    for i in range(4):
        e.submit(i, 0.0, 10, 5)
    e.advance(0.0)
    assert (e.num_running, e.num_waiting) == (2, 2)
    s = finished(drain(e))
    # 0 and 1: prefill step(2, 20) = 0.014, 4 decode steps of 0.012 -> done at 0.062
    assert s[0].finished == pytest.approx(0.062)
    # 2 and 3 are admitted at 0.062 and repeat the same schedule
    assert s[2].queue_time == pytest.approx(0.062)
    assert s[3].finished == pytest.approx(0.124)
    assert s[2].admitted < s[3].finished


def test_kv_overflow_preempts_most_recent_and_recomputes():
    # KV 130 tokens: a holds 10 + up to 60, b joins later with 10 + ...
    p = replace(P, kv_cache_tokens=130, max_model_len=130)
    e = ReplicaEngine(p)
    e.submit("a", 0.0, 10, 60)
    e.submit("b", 0.0, 10, 60)
    events = drain(e)
    pre = [x for x in events if x.kind == PREEMPTED]
    # both need 10 + 60 = 70 at the end: 140 > 130, so the later one, b, is preempted
    assert pre and pre[0].req_id == "b"
    s = finished(events)
    assert s["a"].preemptions == 0 and s["b"].preemptions >= 1
    assert s["b"].generation_tokens == 60 and s["a"].generation_tokens == 60
    assert e.total_preemptions == len(pre)
    # b recomputed its prompt and the tokens it had: more prefill than 20 prompt tokens
    assert e.total_prompt_tokens > 20
    assert e.total_generation_tokens == 120
    assert e.kv_cache_usage == 0.0


def test_kv_room_gates_admission():
    # 100-token KV: a holds 60 + 1 at admission; b (60 + 1) must wait for a to finish
    p = replace(P, kv_cache_tokens=100, max_model_len=100)
    e = ReplicaEngine(p)
    e.submit("a", 0.0, 60, 3)
    e.submit("b", 0.0, 60, 3)
    e.advance(0.0)
    assert (e.num_running, e.num_waiting) == (1, 1)
    assert e.kv_cache_usage == pytest.approx(0.61)
    s = finished(drain(e))
    assert s["b"].admitted == pytest.approx(s["a"].finished)


def test_abort_running_and_waiting():
    e = ReplicaEngine(P)
    for i in range(3):
        e.submit(i, 0.0, 10, 50)
    e.advance(0.1)
    assert e.abort(2, 0.1)  # waiting: leaves at once
    assert e.num_waiting == 0
    assert e.abort(0, 0.1)  # running: leaves at the next boundary
    events = drain(e)
    kinds = {(x.kind, x.req_id) for x in events}
    assert (ABORTED, 2) in kinds and (ABORTED, 0) in kinds
    assert (FINISHED, 1) in kinds and (FINISHED, 0) not in kinds
    assert not e.abort(0, 1.0)
    assert e.kv_cache_usage == 0.0


def test_generated_counts_tokens_inside_a_segment():
    e = ReplicaEngine(P)
    e.submit("a", 0.0, 10, 100)
    e.advance(0.012)  # first token at 0.012 (step 0.012), then 0.011 per token
    assert e.generated("a") == 1
    assert e.generated("a", now=0.012 + 0.011 * 5 + 0.001) == 6
    assert e.generated("unknown") == 0


@pytest.mark.parametrize(
    "field, kwargs",
    [
        ("prompt_tokens", dict(prompt_tokens=0, max_tokens=5)),
        ("max_tokens", dict(prompt_tokens=5, max_tokens=0)),
        ("max_tokens", dict(prompt_tokens=900, max_tokens=200)),  # 1100 > max_model_len 1000
    ],
)
def test_bad_requests_name_the_field(field, kwargs):
    with pytest.raises(ValueError, match=field):
        ReplicaEngine(P).submit("a", 0.0, **kwargs)


def test_duplicate_id_rejected():
    e = ReplicaEngine(P)
    e.submit("a", 0.0, 5, 5)
    with pytest.raises(ValueError, match="req_id"):
        e.submit("a", 0.0, 5, 5)


def _replay(profile: PerformanceProfile, n: int, seed: int) -> list:
    rng = random.Random(seed)
    e = ReplicaEngine(profile)
    t = 0.0
    arrivals = []
    for i in range(n):
        t += rng.expovariate(20.0)
        arrivals.append((t, i, rng.randint(5, 150), rng.randint(1, 300)))
    events = []
    k = 0
    while k < len(arrivals) or e.next_event_time() is not None:
        nxt = e.next_event_time()
        if k < len(arrivals) and (nxt is None or arrivals[k][0] <= nxt):
            at, rid, prompt, out = arrivals[k]
            e.submit(rid, at, prompt, out)
            k += 1
        else:
            events.extend(e.advance(nxt))
    return events


def test_deterministic_and_conserving_under_load():
    p = replace(get_profile("cpu-tiny"), kv_cache_tokens=600)
    a = _replay(p, 300, seed=7)
    b = _replay(p, 300, seed=7)
    assert a == b
    done = finished(a)
    assert len(done) == 300
    assert any(x.kind == PREEMPTED for x in a)  # 600-token KV forces some
    times = [x.time for x in a]
    assert times == sorted(times)
    for s in done.values():
        assert s.arrival <= s.admitted <= s.first_token <= s.finished
        assert not math.isnan(s.first_token)


def test_shipped_profiles_are_valid_and_consistent():
    for p in PROFILES.values():
        assert p.kv_cache_tokens >= p.max_model_len
        assert p.max_requests_per_s(100, 100) > 0
    h = get_profile("llama-3.1-8b-h100")
    # 128 KiB per token over 55 GiB = 450,560 tokens
    assert h.kv_cache_tokens == 55 * 2**30 // (128 * 1024)
    assert h.step_time(1) == pytest.approx(0.006555)
    with pytest.raises(ValueError, match="profile"):
        get_profile("nope")


@pytest.mark.parametrize(
    "field, value",
    [("max_num_seqs", 0), ("kv_cache_tokens", -1), ("decode_base_s", float("nan")), ("startup_s", -1.0)],
)
def test_profile_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        replace(P, **{field: value})


def test_slowdown_multiplies_step_time():
    e = ReplicaEngine(P)
    e.set_slowdown(3.0, 0.0)
    e.submit("a", 0.0, 50, 3)
    s = finished(drain(e))["a"]
    # 3 x (prefill step 0.016 + 2 decode steps of 0.011) = 0.114
    assert s.e2e == pytest.approx(0.114)
    with pytest.raises(ValueError, match="factor"):
        e.set_slowdown(0.0, 1.0)


def test_shrinking_kv_capacity_preempts():
    e = ReplicaEngine(P)
    e.submit("a", 0.0, 100, 200)
    e.submit("b", 0.0, 100, 200)
    e.advance(0.5)
    e.set_kv_capacity(350, 0.5)  # a alone ends at 300 tokens; a and b together need 600
    events = drain(e)
    assert [x.req_id for x in events if x.kind == PREEMPTED][0] == "b"
    assert len(finished(events)) == 2


@pytest.mark.parametrize("seed", range(8))
def test_random_workloads_with_aborts_and_capacity_changes_keep_invariants(seed):
    rng = random.Random(seed)
    p = replace(get_profile("cpu-tiny"), kv_cache_tokens=rng.choice([512, 1024, 3000]),
                max_num_batched_tokens=rng.choice([8, 64, 2048]))
    e = ReplicaEngine(p)
    t, wanted, events = 0.0, {}, []

    def step_to(limit):
        while (nxt := e.next_event_time()) is not None and nxt <= limit:
            events.extend(e.advance(nxt))
            assert e.num_running <= p.max_num_seqs
            assert e.kv_used_tokens <= e.kv_cache_tokens

    for i in range(200):
        t += rng.expovariate(rng.choice([5, 50, 500]))
        step_to(t)
        prompt = rng.randint(1, 200)
        wanted[i] = rng.randint(1, 512 - prompt)
        e.submit(i, t, prompt, wanted[i])
        if rng.random() < 0.05:
            e.abort(rng.randrange(i + 1), t)
        if rng.random() < 0.03:
            e.set_kv_capacity(rng.choice([512, 800, p.kv_cache_tokens]), t)
    e.set_kv_capacity(max(512, p.kv_cache_tokens), t)  # every request fits alone again
    step_to(math.inf)
    ends = [x for x in events if x.kind in (FINISHED, ABORTED)]
    assert sorted(x.req_id for x in ends) == list(range(200))  # each ends exactly once
    assert all(x.stats.generation_tokens == wanted[x.req_id] for x in ends if x.kind == FINISHED)
    assert [x.time for x in events] == sorted(x.time for x in events)
    assert (e.kv_used_tokens, e.num_waiting, e.num_running) == (0, 0, 0)
