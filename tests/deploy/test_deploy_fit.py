"""The fit check: GPU memory estimated before any request, refused with numbers and fixes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from deploy import catalog, fit
from deploy.config import REPO_ROOT, DeployConfig
from deploy.errors import ConfigError

GB = 1e9
# Published GPU-memory figures of real loads, each with its source (docs/deploy.md, Fit check).
# (model, parallel slots, context per slot, embedding model, published bytes, source)
PUBLISHED = [
    # Ollama 0.6.0's own requirement for gemma3:27b at its default 2,048 tokens, 1 slot.
    ("gemma3:27b", 1, 2048, "", 20.2 * fit.GIB, "https://github.com/ollama/ollama/issues/9685"),
    # `ollama ps` on Ollama 0.24.0: gemma4:31b (Q4_K_M) with a 262,144-token context.
    ("gemma4:31b", 1, 262144, "", 44.8 * GB, "https://github.com/ollama/ollama/issues/16763"),
]
# Weights-only figures: Google's table of memory to load each Gemma 4 checkpoint at Q4_0
# (https://ai.google.dev/gemma/docs/core) against the QAT Q4_0 GGUF files' sizes
# (HilbertraumAI/HilbertRaum#318 and #391): the table's numbers are what a file of
# that size needs, which is how the estimate counts weights (file size = GPU bytes).
GOOGLE_Q4_0 = [("Gemma 4 12B", 6_975_879_296, 6.7 * GB), ("Gemma 4 26B A4B", 14_439_363_584, 14.4 * GB)]


@pytest.mark.parametrize(("model", "slots", "context", "embed", "published", "source"), PUBLISHED)
def test_estimate_is_within_15_percent_of_published_figures(model, slots, context, embed, published, source):
    est = fit.estimate(model, "nvidia-rtx-pro-6000", slots, context, embed)
    ratio = est.total_gib * fit.GIB / published
    assert 0.85 <= ratio <= 1.15, (model, source, round(est.total_gib, 2), ratio)


@pytest.mark.parametrize(("name", "file_bytes", "published"), GOOGLE_Q4_0)
def test_weights_count_as_their_file_size_as_google_publishes(name, file_bytes, published):
    assert 0.85 <= file_bytes / published <= 1.15, name


def test_kv_cache_grows_with_slots_and_context_but_sliding_layers_stop_at_their_window():
    short = fit.estimate("gemma4:26b", "nvidia-l4", 1, 8192)
    assert fit.estimate("gemma4:26b", "nvidia-l4", 4, 8192).kv_gib == pytest.approx(4 * short.kv_gib)
    spec = catalog.model_spec("gemma4:26b").kv
    sliding = spec.sliding_layers * (spec.window + fit.UBATCH_TOKENS) * spec.sliding_width * 4
    full = spec.full_layers * 8192 * spec.full_width * 4
    assert short.kv_gib * fit.GIB == sliding + full  # K and V, 2 bytes each
    doubled = fit.estimate("gemma4:26b", "nvidia-l4", 1, 16384)
    assert doubled.kv_gib * fit.GIB == sliding + 2 * full


def test_31b_on_an_l4_is_refused_with_the_numbers_and_the_nearest_fixes():
    cfg = DeployConfig("my-workshop-1", "us-central1", model="gemma4:31b", gpu_type="nvidia-l4")
    est = cfg.fit_estimate()
    assert est.known and not est.fits and est.total_gib > est.gpu_gib == 22.5
    with pytest.raises(ConfigError) as raised:
        cfg.validate()
    assert "Will not fit: gemma4:31b on nvidia-l4: 18.6 GiB weights" in raised.value.message
    assert "4 slot(s) x 8,192 tokens" in raised.value.message
    fix = raised.value.fix
    assert "a smaller model: gemma4:26b" in fix and "a bigger GPU: nvidia-rtx-pro-6000" in fix
    for suggestion in fit.fixes(est):  # every suggested fix does fit
        assert "GiB" in suggestion
    assert DeployConfig(
        "p-123456", "us-central1", model="gemma4:31b", gpu_type="nvidia-rtx-pro-6000"
    ).validate()


def test_fewer_slots_and_shorter_context_are_offered_when_they_fit():
    est = fit.estimate("gemma3:27b", "nvidia-l4", 4, 32768)
    found = fit.fixes(est)
    assert not est.fits
    assert any(f.startswith("fewer parallel requests") for f in found), found
    assert any(f.startswith("a shorter context: 2,048 tokens") for f in found), found


def test_context_longer_than_the_model_supports_is_refused():
    cfg = DeployConfig("p-123456", "us-central1", model="gemma2:9b", context_length=16384)
    with pytest.raises(ConfigError, match="gemma2:9b supports at most 8,192 tokens"):
        cfg.validate()


def test_default_is_the_most_capable_gemma4_that_fits_an_l4_at_8k():
    default = fit.default_model()
    assert default == catalog.DEFAULT_MODEL
    spec = catalog.model_spec(default)
    assert spec.family == "gemma4"
    assert fit.estimate(default, "nvidia-l4", catalog.DEFAULT_CONCURRENCY, 8192).fits
    more_capable = [s.tag for s in catalog.models().values() if s.family == "gemma4" and s.rank > spec.rank]
    assert more_capable and not any(
        fit.estimate(tag, "nvidia-l4", catalog.DEFAULT_CONCURRENCY, 8192).fits for tag in more_capable
    )
    assert DeployConfig("p-123456", "us-central1").model == default
    assert fit.default_model("nvidia-rtx-pro-6000") == "gemma4:31b"  # computed, not fixed


def test_unknown_models_are_allowed_with_a_warning():
    cfg = DeployConfig("p-123456", "us-central1", model="someone/tuned:q4")
    assert cfg.validate() and not cfg.fit_estimate().known
    assert "unchecked" in cfg.warnings()[0]
    assert DeployConfig("p-123456", "us-central1", model="gemma4:e4b").warnings() == []


def test_cli_refuses_before_any_request(fake, sa_file, tmp_path):
    env = {
        "GOOGLE_APPLICATION_CREDENTIALS": str(sa_file),
        "DEPLOY_API_BASE": fake.base_url,
        "DEPLOY_POLL_SECONDS": "0",
        "PATH": "/usr/bin:/bin",
        "NO_PROXY": "127.0.0.1",
    }
    args = [
        "--project",
        "my-workshop-1",
        "--region",
        "us-central1",
        "--model",
        "gemma4:31b",
        "--gpu-type",
        "nvidia-l4",
    ]
    for command in (["plan"], ["plan", "--gcloud"], ["deploy", "--state-dir", str(tmp_path / "jobs")]):
        out = subprocess.run(
            [sys.executable, "-m", "deploy", *command, *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2, out.stdout  # a setting that cannot work: bad arguments
        assert "Will not fit: gemma4:31b on nvidia-l4" in out.stderr and "GiB of 22.5 GiB" in out.stderr
        assert "fix: Nearest fixes: " in out.stderr and "gemma4:26b" in out.stderr
    assert fake.calls == []  # no request reached the (fake) Google APIs
    assert not (tmp_path / "jobs").exists()  # and no deploy job was started
