"""One settings table (rag/settings.py) for the app, the libraries and both CLIs.

The rule the scan enforces: every environment variable that code in `rag/`, `deploy/`,
`pages/` or `streamlit_app.py` reads *by name* (`os.environ.get("X")`, `os.getenv("X")`,
`os.environ["X"]`, `"X" in os.environ`) is documented in docs/settings.md, and is one of
`rag.settings.EXTERNAL_ENV`: a variable another program defines (Cloud Run's `K_SERVICE`,
google-auth's `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's `CLOUDSDK_CONFIG`). Everything
else is a setting, and a setting is read only through the table (`Settings.load`,
`Settings.from_env`, `env_value`), never by name elsewhere: one parser, one precedence.
Not reads, so not checked: setting a variable for a library (`os.environ.setdefault`),
handing the whole environment to a subprocess or to `Settings.load(os.environ, ...)`.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.config import DEFAULT_STATE_DIR, Endpoints, poll_seconds, setting, state_dir
from deploy.errors import ConfigError
from deploy.hosting import page_access
from rag.errors import InputError
from rag.settings import EXTERNAL_ENV, Settings, env_value, fields, is_hosted, settings_markdown
from tests.conftest import ROOT


def _source_files() -> list[Path]:
    found = [p for d in ("rag", "deploy", "pages") for p in sorted((ROOT / d).rglob("*.py"))]
    return [p for p in found if "__pycache__" not in p.parts] + [ROOT / "streamlit_app.py"]


def _is_environ(node: ast.AST) -> bool:
    """`os.environ` or a bare `environ` (from os import environ)."""
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def _read_key(node: ast.AST) -> ast.AST | None:
    """The name argument when `node` reads one environment variable, else None."""
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "get" and _is_environ(func.value):
            return node.args[0]
        if (isinstance(func, ast.Attribute) and func.attr == "getenv") or (
            isinstance(func, ast.Name) and func.id == "getenv"
        ):
            return node.args[0]
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_environ(node.value):
        return node.slice
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In | ast.NotIn):
        return node.left if _is_environ(node.comparators[0]) else None
    return None


def environment_reads(path: Path) -> list[tuple[str | None, int]]:
    """(variable name, line) of every read by name; None when the name is not a string constant."""
    tree = ast.parse(path.read_text(), filename=str(path))
    constants = {  # NAME = "LITERAL" at module level, so os.environ.get(FLAG) is checked too
        target.id: stmt.value.value
        for stmt in tree.body
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant)
        for target in stmt.targets
        if isinstance(target, ast.Name) and isinstance(stmt.value.value, str)
    }
    reads = []
    for node in ast.walk(tree):
        key = _read_key(node)
        if key is None:
            continue
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            reads.append((key.value, node.lineno))
        elif isinstance(key, ast.Name) and key.id in constants:
            reads.append((constants[key.id], node.lineno))
        else:
            reads.append((None, node.lineno))
    return reads


def test_the_scan_finds_every_form_of_read(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\nfrom os import environ, getenv\nFLAG = 'E'\n"
        "os.environ.get('A'); os.getenv('B'); os.environ['C']; 'D' in os.environ\n"
        "environ.get(FLAG); getenv(FLAG.lower()); os.environ.setdefault('F', '1')\n"
    )
    assert environment_reads(sample) == [("A", 4), ("B", 4), ("C", 4), ("D", 4), ("E", 5), (None, 5)]


def test_every_environment_read_is_documented_and_no_setting_is_read_by_name():
    docs = (ROOT / "docs" / "settings.md").read_text()
    settings_env = {f.metadata["env"] for f in fields()}
    problems = []
    for path in _source_files():
        where = path.relative_to(ROOT)
        for name, line in environment_reads(path):
            if name is None:
                problems.append(f"{where}:{line} reads a variable whose name the test cannot see")
            elif f"`{name}`" not in docs:
                problems.append(f"{where}:{line} reads {name}, which docs/settings.md does not list")
            elif name in settings_env:
                problems.append(f"{where}:{line} reads the setting {name} itself: use rag.settings")
            elif name not in EXTERNAL_ENV:
                problems.append(f"{where}:{line} reads {name}: add it to Settings or EXTERNAL_ENV")
    assert not problems, "\n".join(problems)
    # the scan is not vacuous: the credentials lookup in rag/auth.py reads by name
    assert "CLOUDSDK_CONFIG" in [name for name, _ in environment_reads(ROOT / "rag" / "auth.py")]


def test_docs_are_generated_from_the_table():
    docs = (ROOT / "docs" / "settings.md").read_text()
    assert docs == settings_markdown(), "Run `python -m rag settings > docs/settings.md`."
    for f in fields():
        assert f.metadata["doc"] and f"| `{f.metadata['env']}` | `{f.name}` |" in docs
    for name in ("DEPLOY_STATE_DIR", "DEPLOY_POLL_SECONDS", "DEPLOY_API_BASE", "RAG_VERTEX_BASE_URL"):
        assert f"`{name}`" in docs
    assert "## Precedence" in docs and "## Read, but not settings" in docs


def test_precedence_default_environment_secrets_then_hosted_mode():
    env = {"RAG_TOP_K": "6", "RAG_MAX_TOKENS": "100", "DEPLOY_POLL_SECONDS": "0.5"}
    secrets = {"rag_max_tokens": 50, "Temperature": "0.7", "section": {"top_k": 9}}
    s = Settings.load(env, secrets)
    assert (s.top_k, s.max_tokens, s.temperature, s.deploy_poll_seconds) == (6, 50, 0.7, 0.5)
    assert s.splitter == "sections"  # the default
    assert s.hosted is False and s.allow_private_urls is True
    hosted = Settings.load({"WORKSHOP_HOSTED": "on", "RAG_ALLOW_PRIVATE_URLS": "1"})
    assert hosted.hosted and not hosted.allow_private_urls  # "on" is a boolean like everywhere
    assert Settings.load({"K_SERVICE": "ui"}, {"workshop_hosted": "0"}).hosted  # Cloud Run always
    assert Settings.load({}, {"WORKSHOP_HOSTED": "yes"}).hosted  # st.secrets may turn it on
    assert is_hosted({"WORKSHOP_HOSTED": "on"}) and not is_hosted({"WORKSHOP_HOSTED": "off"})
    with pytest.raises(InputError, match="WORKSHOP_HOSTED='maybe'"):
        is_hosted({"WORKSHOP_HOSTED": "maybe"})


def test_secrets_that_cannot_be_read_count_as_none():
    class NoSecretsFile(dict):  # st.secrets raises like this when there is no secrets.toml
        def items(self):
            raise FileNotFoundError("No secrets files found.")

    assert Settings.load({"RAG_TOP_K": "5"}, NoSecretsFile()).top_k == 5


def test_tokens_and_the_admin_secret_stay_out_of_reprs():
    s = Settings(ollama_token="tok-1", openai_token="tok-2", deploy_admin_secret="adm-3")
    assert not any(secret in repr(s) for secret in ("tok-1", "tok-2", "adm-3"))


def test_one_setting_is_read_alone(monkeypatch):
    monkeypatch.setenv("RAG_TOP_K", "not a number")  # another row's bad value does not matter
    monkeypatch.setenv("DEPLOY_POLL_SECONDS", "0.25")
    assert env_value("deploy_poll_seconds") == 0.25 and poll_seconds() == 0.25
    assert env_value("deploy_poll_seconds", {}) == 5.0
    monkeypatch.setenv("DEPLOY_POLL_SECONDS", "soon")
    with pytest.raises(ConfigError, match="DEPLOY_POLL_SECONDS='soon'"):
        poll_seconds()


def test_deploy_settings_have_one_default_everywhere(monkeypatch, tmp_path):
    monkeypatch.delenv("DEPLOY_STATE_DIR", raising=False)
    monkeypatch.delenv("DEPLOY_API_BASE", raising=False)
    assert state_dir() == DEFAULT_STATE_DIR == ROOT / ".cache" / "deploy"  # not the working directory
    assert Endpoints.from_env() == Endpoints()
    monkeypatch.setenv("DEPLOY_STATE_DIR", str(tmp_path / "jobs"))
    monkeypatch.setenv("DEPLOY_API_BASE", "http://127.0.0.1:9/")
    assert state_dir() == tmp_path / "jobs"
    assert Endpoints.from_env().base("run") == "http://127.0.0.1:9/run/"
    # the app's session settings win over the environment (st.secrets, the sidebar)
    assert state_dir(Settings(deploy_state_dir=str(tmp_path / "page"))) == tmp_path / "page"
    assert setting("deploy_api_base", Settings()) == ""


def test_deploy_resume_and_cleanup_use_deploy_state_dir(tmp_path):
    """`python -m deploy resume` used to look in the repository's folder whatever the variable said."""
    jobs = tmp_path / "jobs"
    env = {"PATH": "/usr/bin:/bin", "DEPLOY_STATE_DIR": str(jobs), "DEPLOY_POLL_SECONDS": "0"}
    for command in ("resume", "cleanup"):
        done = subprocess.run(
            [sys.executable, "-m", "deploy", command], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode != 0 and f"No deploy state in {jobs}" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_the_page_gate_reads_the_settings():
    assert page_access(Settings()).enabled  # local
    hosted = Settings.load({"WORKSHOP_HOSTED": "1"}, {"deploy_admin_secret": "s3cret"})
    assert page_access(hosted).needs_secret and not page_access(hosted, "guess").enabled
    assert page_access(hosted, "s3cret").enabled
    assert not page_access(Settings.load({"K_SERVICE": "ui"})).needs_secret  # no secret: off


def test_the_shared_target_key_covers_every_setting_make_target_reads():
    """pages/common/state.py shares a target between sessions with the same key: a setting
    make_target() reads but the key lacks would leak one session's value into another's."""
    from pages.common.state import TARGET_SETTINGS
    from rag.llms import make_target

    names = {f.name for f in fields()}
    read: set[str] = set()

    class Recording(Settings):
        def __getattribute__(self, name: str):
            if name in names:
                read.add(name)
            return super().__getattribute__(name)

    for spec in ("embedded", "ollama", "ollama:http://127.0.0.1:9", "openai:http://127.0.0.1:9"):
        make_target(spec, Recording(ollama_token="t", openai_token="t"))
    make_target("cloudrun:https://svc.example.run.app", Recording())
    assert read and read <= set(TARGET_SETTINGS), read - set(TARGET_SETTINGS)


def test_rag_imports_neither_streamlit_nor_deploy():
    code = (
        "import sys, rag.settings, rag.pipeline, rag.side_by_side, rag.llms, rag.embeddings; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('streamlit', 'deploy', 'pages')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
