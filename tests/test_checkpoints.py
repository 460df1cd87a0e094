"""The checkpoint writer: one round for every running answer of the process."""

import asyncio

import pytest

from chat.replies.checkpoints import Checkpoints

pytestmark = pytest.mark.django_db(transaction=True)


class BrokenRun:
    """A run whose text cannot be read for a checkpoint."""

    message_id = 1

    def __init__(self):
        self.failures = []

    def checkpoint_row(self):
        raise RuntimeError("no text")

    def checkpoint_failed(self, error):
        self.failures.append(error)


async def test_a_run_that_cannot_be_checkpointed_stops_and_the_writer_lives_on():
    writer = Checkpoints(asyncio.get_running_loop())
    run = BrokenRun()
    writer.runs[run.message_id] = run

    await writer.write_round()  # raised out of the writer's loop before

    assert [type(error) for error in run.failures] == [RuntimeError]
