"""scripts/execute_chapters.py --out: the executed copies and results go to DIR, and the book stays as it was."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import execute_chapters


@pytest.mark.parametrize("fails", [False, True])
def test_out_moves_the_results_json_and_puts_the_books_own_back(tmp_path, monkeypatch, fails):
    book = tmp_path / "book"
    book.mkdir()
    notebook = book / "01_kd_basics.ipynb"
    notebook.write_text('P = from_namespace("kd_basics", globals())')  # what chapter_key reads
    committed = book / "results" / "kd_basics.json"  # where the kernel writes at the book profile
    committed.parent.mkdir()
    committed.write_text('{"committed": true}')

    def execute(path, output, parameters):  # stands in for papermill: the kernel overwrites the JSON
        committed.write_text(json.dumps({"run": parameters}))
        if fails:
            raise RuntimeError("a cell failed")
        output.write_text("executed")
        return 1.0

    monkeypatch.setattr(execute_chapters, "execute", execute)
    monkeypatch.setattr(execute_chapters, "environment", lambda: {})
    out = tmp_path / "out"
    argv = [str(notebook), "--out", str(out), "-p", "temperature", "2"]
    if fails:
        with pytest.raises(RuntimeError):
            execute_chapters.main(argv)
    else:
        assert execute_chapters.main(argv) == 0
        assert json.loads((out / "kd_basics.json").read_text()) == {"run": {"temperature": 2}}
        assert (out / "01_kd_basics.ipynb").read_text() == "executed"
    assert committed.read_text() == '{"committed": true}'  # the book's own results, as committed


def test_with_out_the_notebook_being_executed_is_written_beside_the_output_not_in_the_book(tmp_path, monkeypatch):
    import nbformat

    book, out = tmp_path / "book", tmp_path / "out"
    book.mkdir(), out.mkdir()
    chapter = book / "01_kd_basics.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), chapter)
    written = []

    def papermill_stand_in(source, executing, **kwargs):
        assert kwargs["cwd"] == str(book)  # the kernel still runs in book/, as the chapters expect
        written.append(Path(executing))
        nbformat.write(nbformat.v4.new_notebook(), executing)

    monkeypatch.setattr(execute_chapters.papermill, "execute_notebook", papermill_stand_in)
    execute_chapters.execute(chapter, out / chapter.name)
    assert [p.parent for p in written] == [out] and sorted(p.name for p in book.iterdir()) == [chapter.name]
    assert (out / chapter.name).is_file() and not written[0].exists()  # the executing copy is cleaned up
