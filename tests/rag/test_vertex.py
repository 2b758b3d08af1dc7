"""Vertex AI embeddings through the maintained GoogleGenerativeAIEmbeddings(vertexai=True).

The SDK talks to a local server that checks every request against the
aiplatform v1beta1 discovery document (the `publishers.models.predict` method
the SDK uses for embedding models) and answers in the documented shapes,
including Google's JSON error bodies.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from deploy.api import ApiRequest
from deploy.discovery import validate_request
from rag.errors import EmbeddingError
from rag.settings import Settings
from tests.servers.base import LocalServer, QuietHandler


class VertexState:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict, dict]] = []
        self.problems: list[str] = []
        self.error: tuple[int, str, str] | None = None
        self.lock = threading.Lock()


class VertexHandler(QuietHandler):
    def do_POST(self) -> None:
        state: VertexState = self.server.owner.state  # type: ignore[attr-defined]
        body = self.read_json()
        path = self.path.lstrip("/")
        with state.lock:
            state.requests.append((path, dict(self.headers.items()), body))
            state.problems += validate_request(ApiRequest("aiplatform", "v1beta1", "POST", path, body=body))
        if state.error:
            code, status, message = state.error
            self.send_json(code, {"error": {"code": code, "message": message, "status": status}})
            return
        predictions = [
            {
                "embeddings": {
                    "values": [float(len(i["content"])), 1.0, 0.0],
                    "statistics": {"token_count": 2, "truncated": False},
                }
            }
            for i in body["instances"]
        ]
        self.send_json(200, {"predictions": predictions, "metadata": {"billableCharacterCount": 10}})


class FakeVertex(LocalServer):
    def __init__(self) -> None:
        self.state = VertexState()
        super().__init__(VertexHandler)


@pytest.fixture
def vertex(monkeypatch) -> Iterator[FakeVertex]:
    # The server is named in the settings (vertex_base_url), not by the environment.
    monkeypatch.delenv("RAG_VERTEX_BASE_URL", raising=False)
    with FakeVertex() as server:
        yield server


def embeddings(server: FakeVertex, model="text-embedding-005"):
    from google.oauth2 import credentials

    from rag.embeddings.vertex import vertex_embeddings

    creds = credentials.Credentials(token="ya29.test-token")
    settings = Settings(project="workshop-proj", region="europe-west4", vertex_base_url=server.url)
    return vertex_embeddings(model, settings, credentials=creds)


def test_documents_and_queries_use_the_predict_method_with_task_types(vertex):
    vectors = embeddings(vertex).embed_documents(["alpha", "beta gamma"])
    query = embeddings(vertex).embed_query("q")
    assert vectors == [[5.0, 1.0, 0.0], [10.0, 1.0, 0.0]] and query == [1.0, 1.0, 0.0]
    assert vertex.state.problems == []
    (path, headers, body), (_, _, query_body) = vertex.state.requests
    model = "publishers/google/models/text-embedding-005"
    assert path == f"v1beta1/projects/workshop-proj/locations/europe-west4/{model}:predict"
    assert headers["Authorization"] == "Bearer ya29.test-token"
    assert [i["task_type"] for i in body["instances"]] == ["RETRIEVAL_DOCUMENT"] * 2
    assert query_body["instances"][0]["task_type"] == "RETRIEVAL_QUERY"


def test_the_validator_would_catch_a_wrong_request():
    bad = ApiRequest(
        "aiplatform",
        "v1beta1",
        "POST",
        "v1beta1/projects/p/locations/l/publishers/google/models/m:predict",
        body={"instancez": []},
    )
    assert validate_request(bad)


@pytest.mark.parametrize(
    ("code", "status", "words", "fix"),
    [
        (403, "PERMISSION_DENIED", "refused the request", "roles/aiplatform.user"),
        (404, "NOT_FOUND", "no embedding model", "text-embedding-005"),
        (429, "RESOURCE_EXHAUSTED", "quota is exhausted", "Wait a minute"),
    ],
)
def test_google_errors_become_sentences_with_a_fix(vertex, code, status, words, fix):
    vertex.state.error = (code, status, "details from Google")
    with pytest.raises(EmbeddingError) as caught:
        embeddings(vertex).embed_query("q")
    assert words in caught.value.message and fix in caught.value.fix


def test_missing_project_and_credentials_are_clear(monkeypatch, tmp_path):
    from rag.embeddings.vertex import vertex_embeddings
    from rag.errors import AuthError, InputError

    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_TIMEOUT", "1")
    monkeypatch.setenv("GCE_METADATA_DETECT_RETRIES", "1")
    with pytest.raises(AuthError) as caught:
        vertex_embeddings("text-embedding-005", Settings(project="p"))
    assert "gcloud auth application-default login" in caught.value.fix
    from google.oauth2 import credentials

    with pytest.raises(InputError, match="need a Google Cloud project"):
        vertex_embeddings(
            "text-embedding-005", Settings(project=""), credentials=credentials.Credentials("t")
        )
