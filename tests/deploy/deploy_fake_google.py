"""The fake Google's old import path; the fake itself is the tests/deploy/fake_google package."""

from tests.deploy.fake_google import (
    GPU_REGIONS,
    FakeGoogle,
    Reply,
    crypt_public,
    error_info,
    google_error,
    lost_reply,
)

__all__ = ["GPU_REGIONS", "FakeGoogle", "Reply", "crypt_public", "error_info", "google_error", "lost_reply"]
