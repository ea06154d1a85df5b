import subprocess
import sys

from balint_analysis.cli import main


def test_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "balint_analysis.cli", "--help"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    for command in ("simulate", "report-path", "run"):
        assert command in out


def test_report_path(capsys):
    assert main(["report-path", "--config", "config/config.yaml"]) == 0
    assert "reports/demo/report.html" in capsys.readouterr().out


def test_input_error_is_one_line(capsys, tmp_path):
    assert main(["report-path", "--config", str(tmp_path / "missing.yaml")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read the configuration" in err
