"""The OpenAI-compatible provider over real HTTP against the stub: usage, cached tokens, and how each fault surfaces."""
from __future__ import annotations

import asyncio

import pytest
from conftest import base_url

from llmops_wb.cost import Price, call_cost
from llmops_wb.errors import InvalidRequestError, ProviderServerError, ProviderTimeoutError, RateLimitedError
from llmops_wb.providers import OpenAIProvider, RetryPolicy, call_with_retries


def complete(stub, model: str, prompt: str, max_tokens: int, attempts: int = 1, **kwargs):
    "One call to `model` on the stub (with retries, in `attempts` in all), with the client closed afterwards."
    provider = OpenAIProvider(model, environ={"OPENAI_BASE_URL": base_url(stub)}, **kwargs)
    async def call():
        try: return (await call_with_retries(provider, prompt, RetryPolicy(attempts, backoff_s=0.01),
                                             max_tokens=max_tokens))[0]
        finally: await provider.aclose()
    return asyncio.run(call())


def test_answer_carries_the_models_own_token_counts(stub):
    c = complete(stub, "acme-4o", "Summarize.\n\nRevenue rose four percent.", 3)
    assert (c.text, c.input_tokens, c.output_tokens, c.finish_reason) == ("Revenue rose four", 5, 3, "length")
    assert c.model == "acme-4o" and c.latency_s > 0


def test_cached_tokens_are_billed_once(stub):
    c = complete(stub, "cached-3", "one two three four five", 10)
    assert (c.input_tokens, c.cached_tokens) == (5, 3)
    cost = call_cost(c.input_tokens, c.output_tokens, Price(2.0, 8.0, 0.5), c.cached_tokens)
    assert cost.usd == pytest.approx((2 * 2.0 + 3 * 0.5 + 5 * 8.0) / 1e6)


def test_missing_usage_is_reported_as_none(stub):
    c = complete(stub, "nousage", "hello there", 10)
    assert (c.input_tokens, c.output_tokens) == (None, None)


@pytest.mark.parametrize("status,error,calls", [(400, InvalidRequestError, 1), (429, RateLimitedError, 3),
                                                (503, ProviderServerError, 3)])
def test_faults_map_to_errors_and_only_retryable_ones_retry(stub, status, error, calls):
    with pytest.raises(error) as raised:
        complete(stub, f"status-{status}", "hi", 5, attempts=3)
    assert f"HTTP {status}" in str(raised.value)
    assert stub.RequestHandlerClass.counts[f"status-{status}"] == calls
    assert raised.value.retryable is (status != 400)


def test_a_model_that_does_not_answer_times_out(stub):
    with pytest.raises(ProviderTimeoutError, match="no answer within the timeout"):
        complete(stub, "sleep-3", "hi", 5, timeout_s=0.3)
