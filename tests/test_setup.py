"""The README's test command is exactly what CI runs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command():
    ci = [l for l in (ROOT / ".ci/run").read_text().splitlines() if l.startswith("bash .ci/setup")]
    readme = (ROOT / "README.md").read_text()
    assert len(ci) == 1
    assert ci[0] in readme
