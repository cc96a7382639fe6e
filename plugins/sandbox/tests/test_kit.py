"""The conformance kit's fixtures, as a plugin author uses them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pellacia.testing.sandbox import SandboxHandle
from pellacia.testing.sessions import MemoryUploadSession


async def test_memory_upload_session_records_and_resumes(
    memory_upload_session: type[MemoryUploadSession],
) -> None:
    seen: list[Any] = []

    async def on_save(state: Any) -> None:
        seen.append(state["offset"])

    session = memory_upload_session(on_save=on_save)
    await session.save_state({"upload_id": "u1", "offset": 10})
    session.progress(10, 20)
    assert session.saved == [{"upload_id": "u1", "offset": 10}] and seen == [10]
    assert session.progress_calls == [(10, 20)]
    assert session.resumed().resume_state == {"upload_id": "u1", "offset": 10}
    with pytest.raises(AssertionError, match="JSON"):
        await session.save_state({"path": Path("/x")})


def test_sandbox_fixture_serves_the_example_fake(sandbox: SandboxHandle) -> None:
    assert sandbox.base_url.startswith("http://127.0.0.1:")
    assert "example" in sandbox.fakes()


def test_kit_skips_with_the_reason_when_the_sandbox_is_not_installed(tmp_path: Path) -> None:
    test = tmp_path / "test_needs_sandbox.py"
    test.write_text("def test_it(sandbox):\n    raise AssertionError('ran without a sandbox')\n")
    # Hide pellacia_sandbox as if only core were installed.
    runner = textwrap.dedent(
        """
        import sys
        from importlib.abc import MetaPathFinder

        class Hide(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "pellacia_sandbox":
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, Hide())
        import pytest
        sys.exit(pytest.main(sys.argv[1:]))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PELLACIA_")}
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            runner,
            str(test),
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 skipped" in run.stdout
    assert "pip install pellacia-dist-sandbox" in run.stdout


def _example_platform() -> Any:
    """The example plugin's platform, loaded from its file (not installed here)."""
    import importlib.util

    path = (
        Path(__file__).resolve().parents[3] / "docs/example-plugin/src/pellacia_example/platform.py"
    )
    spec = importlib.util.spec_from_file_location("example_platform_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ExamplePlatform()


async def test_sandbox_context_signs_in_through_the_platforms_oauth(
    sandbox: SandboxHandle, sandbox_context: Any
) -> None:
    await sandbox.control.reset("example")
    async with sandbox_context(_example_platform(), settings={"chunk_size": 16384}) as kit:
        assert kit.ctx.endpoint("https://api.example-video.test") == f"{sandbox.base_url}/example"
        tokens = await kit.tokens.current()
        assert tokens.refresh_token and tokens.expires_at is not None
        assert tokens.access_token not in repr(kit)  # no token in reprs
        assert await kit.platform.fetch_metrics([], kit.ctx) == []
        state = await sandbox.control.state("example")
        assert state["tokens"]["exchanges"] == 1
        assert [r["path"] for r in state["requests"]] == ["/oauth/authorize", "/oauth/token"]
