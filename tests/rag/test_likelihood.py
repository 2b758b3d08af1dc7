"""Query likelihood on the real embedded Gemma: the model seam (`GatedLlama.token_logprobs`)
and the scorer bench/rerank.py measures as a reranker."""

import numpy as np
import pytest

from bench.likelihood import QueryLikelihood

PASSAGES = [
    "git tag -a v1.0 creates an annotated tag. Tags are not pushed by default: "
    "run git push origin v1.0, or git push --tags to send every tag to the remote.",
    "Boil the pasta for nine minutes in salted water, then drain it and add the sauce.",
    "Tomorrow will be cloudy in the morning with light rain expected in the afternoon.",
    "Cloud Run services can attach one NVIDIA L4 GPU per instance; billing is per second.",
]


@pytest.fixture(scope="module")
def pool():
    from rag.llms.embedded import LlamaPool, model_path

    pool = LlamaPool(model_path(), size=1)
    yield pool
    pool.close()


def test_the_passage_that_answers_makes_the_question_likeliest(pool):
    question = "I tagged v1.0 and pushed, but my teammates do not see the tag. What did I miss?"
    scores = QueryLikelihood(pool).scores(question, PASSAGES)
    assert int(np.argmax(scores)) == 0
    assert all(s < 0 for s in scores)  # mean log-probabilities
    assert QueryLikelihood(pool).scores(question, []) == []


def test_token_logprobs_are_repeatable_and_leave_the_context_empty(pool):
    with pool.context() as pooled:
        llm = pooled.llama
        tokens = llm.tokenize(b"The capital of France is Paris.", add_bos=True)
        first = llm.token_logprobs(tokens, 3)
        assert first.shape == (len(tokens) - 3,) and (first <= 0).all()
        assert llm.n_tokens == 0
        np.testing.assert_allclose(first, llm.token_logprobs(tokens, 3), atol=1e-3)  # nothing reused
        with pytest.raises(ValueError):
            llm.token_logprobs(tokens, 0)
    with pool.context() as pooled:  # the context still generates after scoring
        out = pooled.llama.create_completion("The capital of France is", max_tokens=3, temperature=0)
        assert out["choices"][0]["text"].strip()
