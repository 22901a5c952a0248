"""Shared fixtures: the bundled config, a LibreOffice helper, the shared corpus."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sheetcrm.config import Config, load_config

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config(ROOT / "config.toml")


def _soffice() -> str:
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if not exe:
        pytest.fail("LibreOffice is not installed: run the tests through `bash .ci/test.sh`")
    return exe


@pytest.fixture(scope="session")
def libreoffice(tmp_path_factory: pytest.TempPathFactory):
    """Return convert(path, fmt) using LibreOffice headless with its own profile.

    For "csv" every sheet is exported and a {sheet name: csv path} dict comes back; for other formats
    (e.g. "pdf") the converted file's path. Given a list of paths, all are converted in one
    LibreOffice start and the list of converted files comes back (the test fails naming any file
    LibreOffice could not open).
    """
    exe = _soffice()
    profile = tmp_path_factory.mktemp("lo-profile")

    def run(paths: list[Path], fmt: str, outdir: Path) -> subprocess.CompletedProcess[str]:
        outdir.mkdir(exist_ok=True)
        filt = {
            "csv": "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"
        }
        return subprocess.run(
            [exe, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
             "--convert-to", filt.get(fmt, fmt), "--outdir", str(outdir), *map(str, paths)],
            capture_output=True, text=True, timeout=180 + 30 * len(paths),
        )  # fmt: skip

    def convert(path: Path | list[Path], fmt: str = "csv", outdir: Path | None = None):
        if isinstance(path, list):
            outdir = outdir or path[0].parent / f"lo-{fmt}"
            proc = run(path, fmt, outdir)
            made = {p.stem: p for p in outdir.glob(f"*.{fmt}")}
            missing = [p.name for p in path if p.stem not in made]
            assert proc.returncode == 0 and not missing, (
                f"LibreOffice did not open: {missing}\n{proc.stderr}"
            )
            return [made[p.stem] for p in path]
        outdir = outdir or path.parent / f"lo-{fmt}"
        proc = run([path], fmt, outdir)
        stem = path.stem
        produced = sorted(outdir.glob(f"{stem}*.{fmt}"))
        assert proc.returncode == 0 and produced, (
            f"LibreOffice could not convert {path.name}: {proc.stdout} {proc.stderr}"
        )
        if fmt == "csv":
            return {p.stem[len(stem) + 1 :]: p for p in produced}
        return produced[0]

    return convert
