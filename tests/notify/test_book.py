"""AlertBook: new alerts at once, re-sends every resend_s, resolves at once and repeated."""

from __future__ import annotations

import pytest

from controlplane.notify.book import AlertBook
from controlplane.protocols import Alert

T0 = 1_000_000.0


def _alert(name: str = "VllmErrorBurst", target: str = "local/a", starts: float = T0, evidence: str = "e") -> Alert:
    return Alert(name, {"target": target, "severity": "page"}, {"evidence": evidence}, starts)


def _sent(book: AlertBook, scope: str, firing: list[Alert], now: float) -> list[tuple[str, float | None]]:
    return [(a.name, a.ends_at) for a in book.update(scope, firing, now)]


def test_lifecycle_with_resend_and_resolve_repeats() -> None:
    book = AlertBook(resend_s=10, resolved_repeats=2)
    a = _alert()
    # t=0 new: sent at once, active (no ends_at).
    assert _sent(book, "local/a", [a], T0) == [("VllmErrorBurst", None)]
    # t=1..9 still firing: nothing until resend_s has passed.
    for dt in range(1, 10):
        assert _sent(book, "local/a", [_alert(evidence=f"tick {dt}")], T0 + dt) == []
    # t=10: re-sent with the latest evidence and the ORIGINAL startsAt even if the update says otherwise.
    (again,) = book.update("local/a", [_alert(starts=T0 + 10, evidence="tick 10")], T0 + 10)
    assert again.starts_at == T0 and again.annotations["evidence"] == "tick 10" and again.ends_at is None
    # t=12: gone -> resolved now, ends_at = 12.
    assert _sent(book, "local/a", [], T0 + 12) == [("VllmErrorBurst", T0 + 12)]
    # Re-sent resolved twice more, resend_s apart, then forgotten.
    sends = [dt for dt in range(13, 60) if book.update("local/a", [], T0 + dt)]
    assert sends == [22, 32]
    assert book.active() == []


def test_refiring_after_resolve_starts_a_new_alert() -> None:
    book = AlertBook(resend_s=10, resolved_repeats=2)
    book.update("local/a", [_alert()], T0)
    book.update("local/a", [], T0 + 5)
    (new,) = book.update("local/a", [_alert(starts=T0 + 7)], T0 + 7)
    assert new.starts_at == T0 + 7 and new.ends_at is None
    # The old resolved entry is not re-sent any more.
    assert book.update("local/a", [_alert(starts=T0 + 7)], T0 + 15) == []


def test_scopes_are_independent_and_labels_make_identity() -> None:
    book = AlertBook(resend_s=10)
    book.update("local/a", [_alert(target="local/a")], T0)
    book.update("local/b", [_alert(target="local/b")], T0)
    # Updating b with nothing resolves only b's alert.
    assert [a.labels["target"] for a in book.update("local/b", [], T0 + 1)] == ["local/b"]
    assert [a.labels["target"] for a in book.active()] == ["local/a"]
    # Two alerts of one name with different labels are two alerts.
    other = Alert("VllmErrorBurst", {"target": "local/a", "severity": "ticket"}, {}, T0)
    assert len(book.update("local/a", [_alert(target="local/a"), other], T0 + 2)) == 1


@pytest.mark.parametrize("kw,field", [({"resend_s": 0}, "resend_s"), ({"resolved_repeats": -1}, "resolved_repeats")])
def test_bad_settings_name_the_field(kw: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        AlertBook(**kw)
