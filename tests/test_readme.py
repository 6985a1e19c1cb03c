"""The README tells the truth about settings and the test command."""

from pathlib import Path

from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented_with_its_default() -> None:
    readme = (ROOT / "README.md").read_text()
    for name, field in Settings.model_fields.items():
        row = next(
            (ln for ln in readme.splitlines() if ln.startswith(f"| `ALI_{name.upper()}`")), None
        )
        assert row is not None, f"ALI_{name.upper()} missing from the README"
        default = field.default
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        assert (default is None and "(unset)" in row) or f"`{shown}`" in row, row


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "\nmake test\n" in ci


def test_layout_table_lists_every_module() -> None:
    readme = (ROOT / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in layout.splitlines() if ln.startswith("| `")]
    missing = []
    for package in (
        "runtime",
        "service",
        "service/v2",
        "service/routers",
        "service/testing",
        "training",
        "training/nets",
        "bench",
        "bench/sections",
    ):
        for path in sorted((ROOT / package).glob("*.py")):
            if path.name == "__init__.py":
                continue
            mine = [r for r in rows if f"`{package}/" in r.split("|")[1]]
            if not any(path.name in r or f"`{path.stem}`" in r for r in mine):
                missing.append(f"{package}/{path.name}")
    assert not missing, f"README layout table lacks {missing}"


def test_layout_table_names_only_modules_that_exist() -> None:
    """Each row's first cell: `dir/a.py`, `b.py`, ... (b.py in a's folder) or `dir/`."""
    readme = (ROOT / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    missing = []
    for row in (ln for ln in layout.splitlines() if ln.startswith("| `")):
        names = row.split("|")[1].replace("`", "").replace(" ", "").split(",")
        folder = Path(names[0]).parent if names[0].endswith(".py") else Path(names[0])
        for name in names:
            path = ROOT / name if "/" in name else ROOT / folder / name
            if "NAME" not in name and not path.exists():
                missing.append(name)
    assert not missing, f"README layout table names what does not exist: {missing}"
