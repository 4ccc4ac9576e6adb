"""Pure helpers of run folders on URIs (the S3 round trip is tests/integration/test_remote.py)."""
from __future__ import annotations

from orchestrator.store.remote import is_uri, join, staging_dir


def test_is_uri():
    assert is_uri("s3://bucket/runs") and is_uri("gs://b/x")
    assert not is_uri("results") and not is_uri("/abs/path") and not is_uri("file:///tmp/x")


def test_join_keeps_query_options_at_the_end():
    assert join("s3://b/runs/", "quick", "/r1") == "s3://b/runs/quick/r1"
    assert join("s3://b/runs?region=eu-west-1", "quick", "r1") == "s3://b/runs/quick/r1?region=eu-west-1"


def test_staging_dir_is_stable_keeps_the_run_name_and_separates_readers(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEFM_CACHE", str(tmp_path))
    work = staging_dir("s3://b/runs/quick/r1")
    assert work == staging_dir("s3://b/runs/quick/r1/?region=x")      # same run, same copy
    assert work.name == "r1" and work.is_relative_to(tmp_path)
    assert staging_dir("s3://b/runs/quick/r1", "view") != work
    assert staging_dir("s3://other/runs/quick/r1") != work               # same name, other bucket
