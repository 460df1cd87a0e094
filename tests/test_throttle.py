"""The throttle: when text waiting to go out goes, given the clock.

The clock here counts whole milliseconds, so no float rounding blurs an edge.
"""

from chat.replies.throttle import Throttle

WINDOW, QUIET = 30, 10


def throttle() -> Throttle:
    return Throttle(window_s=WINDOW, quiet_s=QUIET)


def test_the_first_text_goes_out_at_once():
    assert throttle().arrived(100)


def test_a_token_after_a_quiet_gap_goes_at_once():
    t = throttle()
    t.arrived(100)
    t.sent(100)
    # Inside the window, but alone: a model at 50 tokens/s never waits.
    assert t.arrived(120)


def test_a_burst_inside_the_window_gathers_until_the_window_ends():
    t = throttle()
    assert t.arrived(100)
    t.sent(100)
    assert not t.arrived(101)
    assert not t.arrived(102)  # no quiet gap before it
    assert not t.window_over(129)
    assert t.due_at() == 100 + WINDOW
    assert t.window_over(100 + WINDOW)


def test_text_after_the_window_goes_even_in_a_burst():
    t = throttle()
    t.arrived(100)
    t.sent(100)
    assert t.arrived(100 + WINDOW)


def test_a_steady_fast_stream_goes_out_once_per_window():
    t = throttle()
    sends = 0
    now = 100
    for _ in range(300):  # 300 tokens 1 ms apart
        if t.arrived(now) or t.window_over(now):
            t.sent(now)
            sends += 1
        now += 1
    assert sends == 10  # 300 ms of tokens in 30 ms windows
