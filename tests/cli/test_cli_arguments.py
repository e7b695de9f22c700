"""What `make run` and `cli run` pass on before any run starts: the sample data's settings,
and the exit codes they document."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from customer_health.landing import utc_now
from customer_health.sample_data.generator import generate
from customer_health.settings import Settings
from orchestration.cli import build_parser, generate_sample_if_empty
from orchestration.run_outcome import EXIT_CODES
from tests.conftest import sha256_of

ROOT = Path(__file__).resolve().parents[2]


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): sha256_of(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_make_run_passes_seed_and_bad_rate_to_the_cli() -> None:
    """`make run SEED=7 BAD_RATE=0` was ignored: the CLI hard-coded seed 42 and 0.002."""
    command = subprocess.run(
        ["make", "-n", "run", "SEED=7", "BAD_RATE=0", "ACCOUNTS=9", "DAYS=5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.replace("\\\n", " ")
    line = " ".join(next(c for c in command.splitlines() if "orchestration.cli run" in c).split())
    assert "--sample-seed 7 --sample-bad-rate 0" in line
    assert "--sample-accounts 9 --sample-days 5" in line


def test_the_cli_generates_sample_data_with_the_seed_and_bad_rate_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALTH_LANDING_DIR", str(tmp_path / "landing"))
    options = "--sample-accounts 6 --sample-days 4 --sample-seed 7 --sample-bad-rate 0"
    args = build_parser().parse_args(["run", "--generate-if-empty", *options.split()])
    assert generate_sample_if_empty(Settings.from_env(), args)
    end = utc_now().date() - timedelta(days=1)
    for seed, bad_rate, name in ((7, 0.0, "same"), (42, 0.002, "old_default")):
        generate(
            tmp_path / name,
            accounts=6,
            start=end - timedelta(days=3),
            end=end,
            seed=seed,
            bad_rate=bad_rate,
        )
    generated = _tree(tmp_path / "landing")
    assert generated == _tree(tmp_path / "same")
    assert generated != _tree(tmp_path / "old_default")


def test_an_empty_landing_folder_without_generate_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALTH_LANDING_DIR", str(tmp_path / "landing"))
    args = build_parser().parse_args(["run"])
    assert not generate_sample_if_empty(Settings.from_env(), args)
    assert not (tmp_path / "landing").exists()


def test_every_exit_code_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for code, meaning in EXIT_CODES.items():
        assert f"| {code} | {meaning}" in readme, (code, meaning)


def test_make_backtest_passes_the_candidate_configuration_to_the_cli() -> None:
    command = subprocess.run(
        ["make", "-n", "backtest", "CONFIG=my-config", "COMPARE=abc"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = " ".join(
        next(c for c in command.splitlines() if "orchestration.cli backtest" in c).split()
    )
    assert "backtest --config my-config --compare abc" in line


def test_a_broken_candidate_configuration_stops_the_backtest_before_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from orchestration import cli

    monkeypatch.setenv("HEALTH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("HEALTH_CONFIG_DIR", raising=False)
    assert cli.main(["backtest", "--config", str(tmp_path / "no-such-folder")]) == 2
    assert "no-such-folder: is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()  # nothing ran, nothing was written
