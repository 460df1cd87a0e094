"""When text waiting to go out should go: the leading-edge rule with a quiet gap.

Text after a quiet spell goes out at once; within `window_s` of the last send it
gathers until the window ends. A token that arrives alone (a gap of `quiet_s`
before it) also goes at once: a model at 50 tokens/s never waits, and a burst
still shares frames. Pure: the caller passes the clock.
"""

import math
from dataclasses import dataclass


@dataclass(slots=True)
class Throttle:
    window_s: float
    quiet_s: float
    last_send: float = -math.inf
    last_arrival: float = -math.inf

    def arrived(self, now: float) -> bool:
        """Note text arriving at `now`; say whether it should go out at once."""
        alone = now - self.last_arrival >= self.quiet_s
        self.last_arrival = now
        return alone or self.window_over(now)

    def window_over(self, now: float) -> bool:
        """Say whether gathered text is due: the window since the last send ended."""
        return now - self.last_send >= self.window_s

    def sent(self, now: float) -> None:
        self.last_send = now

    def due_at(self) -> float:
        """When text gathered now must go out at the latest."""
        return self.last_send + self.window_s
