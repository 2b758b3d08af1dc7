import subprocess
import sys

import pytest

from rag.errors import InputError
from rag.settings import Settings, fields, settings_markdown
from tests.conftest import ROOT


def test_environment_values_are_converted_and_validated():
    s = Settings.from_env(
        {"RAG_TOP_K": "6", "RAG_ALLOW_PRIVATE_URLS": "false", "RAG_LLM": "ollama:http://h:1"}
    )
    assert s.top_k == 6 and s.allow_private_urls is False and s.llm == "ollama:http://h:1"
    with pytest.raises(InputError) as caught:
        Settings.from_env({"RAG_TEMPERATURE": "warm"})
    assert "RAG_TEMPERATURE='warm'" in caught.value.message and "float" in caught.value.fix
    assert Settings.from_env({"RAG_TOP_K": ""}).top_k == 4  # empty means unset


def test_merged_refuses_unknown_settings():
    with pytest.raises(InputError, match="Unknown setting"):
        Settings().merged({"colour": "blue"})


def test_every_setting_is_documented_and_the_docs_are_current():
    docs = (ROOT / "docs" / "settings.md").read_text()
    assert settings_markdown() in docs
    for f in fields():
        assert f.metadata["doc"] and f.metadata["env"] in docs


def test_rag_does_not_import_streamlit():
    code = "import sys, rag.cli, rag.pipeline, rag.side_by_side; assert 'streamlit' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
