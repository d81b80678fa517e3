"""Guide files: validation problems that name the field, the built-in guides, the library."""

from __future__ import annotations

import shutil
from itertools import pairwise
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.errors import UserError
from bot.guide import (
    BUILTIN_DIR,
    MAX_GUIDE_BYTES,
    Chapter,
    Guide,
    GuideInvalid,
    GuideLibrary,
    GuidePoll,
    parse_guide,
    read_guide_file,
    validate_guide_name,
)

HEADER = 'title = "Test film"\nruntime = "1:34:00"\n'


def chapter(
    title: str = '"A chapter"',
    ends_at: str = '"0:10:00"',
    questions: str | None = '["What did you notice?"]',
    extra: str = "",
) -> str:
    """One [[chapters]] table; pass raw TOML values."""
    lines = ["[[chapters]]", f"title = {title}", f"ends_at = {ends_at}"]
    if questions is not None:
        lines.append(f"questions = {questions}")
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n"


def guide_text(*chapters: str, header: str = HEADER) -> str:
    return header + "".join(chapters or (chapter(),))


def problems(source: str | bytes, name: str = "test") -> list[str]:
    """The problems parse_guide reports; fails the test if it accepts the file."""
    with pytest.raises(GuideInvalid) as caught:
        parse_guide(source, name)
    error = caught.value
    assert isinstance(error, UserError)
    assert error.key == "guide_invalid"
    assert error.params["name"] == name
    assert error.params["problems"] == error.problems
    assert all(isinstance(p, str) and p for p in error.problems)
    return error.problems


def only_problem(source: str | bytes) -> str:
    found = problems(source)
    assert len(found) == 1, found
    return found[0]


def poll(question: str = '"Which?"', options: str = '["A", "B"]') -> str:
    return f"poll = {{ question = {question}, options = {options} }}"


# ---------------------------------------------------------------- a good file


def test_minimal_guide_parses() -> None:
    guide = parse_guide(
        guide_text(
            chapter(ends_at='"0:14:30"'),
            chapter(ends_at='"0:31:00"', questions=None, extra=poll()),
        ),
        "mini",
    )
    assert guide.name == "mini"
    assert guide.title == "Test film"
    assert guide.runtime_seconds == 94 * 60
    assert [c.ends_at_seconds for c in guide.chapters] == [870, 1860]
    assert guide.chapters[0].questions == ("What did you notice?",)
    assert guide.chapters[1].questions == ()
    assert guide.chapters[1].poll == GuidePoll(question="Which?", options=("A", "B"))
    assert guide.chapters[0].prompt_at_seconds == 870


def test_bytes_and_a_utf8_bom_are_accepted() -> None:
    source = "\ufeff" + guide_text(chapter(title='"Café – ☕"'))
    guide = parse_guide(source.encode("utf-8"), "bom")
    assert guide.chapters[0].title == "Café – ☕"


def test_strings_are_stripped_and_multiline_questions_kept() -> None:
    guide = parse_guide(
        guide_text(chapter(questions='["""\n  First line.\n  Second line.\n"""]')), "ml"
    )
    assert guide.chapters[0].questions == ("First line.\n  Second line.",)


def test_toml_local_time_is_accepted_for_times() -> None:
    guide = parse_guide(
        guide_text(chapter(ends_at="00:14:30"), header='title = "T"\nruntime = 01:34:00\n'), "t"
    )
    assert guide.runtime_seconds == 5640
    assert guide.chapters[0].ends_at_seconds == 870


def test_minutes_and_seconds_form_is_accepted() -> None:
    guide = parse_guide(guide_text(chapter(ends_at='"14:30"')), "t")
    assert guide.chapters[0].ends_at_seconds == 870


def test_empty_questions_with_a_poll_is_fine() -> None:
    guide = parse_guide(guide_text(chapter(questions="[]", extra=poll())), "t")
    assert guide.chapters[0].questions == ()


def test_last_chapter_may_end_exactly_at_runtime() -> None:
    guide = parse_guide(guide_text(chapter(ends_at='"1:34:00"')), "t")
    assert guide.chapters[-1].ends_at_seconds == guide.runtime_seconds


def test_limits_themselves_are_allowed() -> None:
    question = "q" * 1000
    options = "[" + ", ".join(f'"{str(i) * 100}"' for i in range(10)) + "]"
    source = guide_text(
        *(chapter(ends_at=f'"0:{i + 1:02d}:00"') for i in range(49)),
        chapter(
            ends_at='"1:00:00"',
            questions="[" + ", ".join([f'"{question}"'] * 10) + "]",
            extra=poll(question='"' + "p" * 300 + '"', options=options),
        ),
    )
    guide = parse_guide(source, "limits")
    assert len(guide.chapters) == 50
    assert len(guide.chapters[-1].questions) == 10
    assert guide.chapters[-1].poll is not None
    assert len(guide.chapters[-1].poll.options) == 10


# ---------------------------------------------------------------- every validation rule


def test_title_missing() -> None:
    assert only_problem(guide_text(header='runtime = "1:34:00"\n')) == "title: missing"


def test_title_empty() -> None:
    assert only_problem(guide_text(header='title = "  "\nruntime = "1:34:00"\n')) == (
        "title: is empty"
    )


def test_title_wrong_type() -> None:
    assert only_problem(guide_text(header='title = 42\nruntime = "1:34:00"\n')) == (
        "title: expected a string, got a number"
    )


def test_title_too_long() -> None:
    found = only_problem(guide_text(header=f'title = "{"t" * 201}"\nruntime = "1:34:00"\n'))
    assert found.startswith("title: ")
    assert "201 characters" in found and "at most 200" in found


def test_runtime_missing() -> None:
    assert only_problem(guide_text(header='title = "T"\n')) == "runtime: missing"


def test_runtime_not_a_time() -> None:
    assert only_problem(guide_text(header='title = "T"\nruntime = "1h34"\n')) == (
        'runtime: "1h34" is not a time; write H:MM:SS such as "1:34:00"'
    )


def test_runtime_wrong_type() -> None:
    assert only_problem(guide_text(header='title = "T"\nruntime = 94\n')) == (
        'runtime: expected a time such as "1:34:00", got a number'
    )


def test_runtime_zero() -> None:
    found = problems(guide_text(header='title = "T"\nruntime = "0:00:00"\n'))
    assert "runtime: must be later than 0:00:00" in found


def test_runtime_longer_than_a_day() -> None:
    found = problems(guide_text(header='title = "T"\nruntime = "30:00:00"\n'))
    assert 'runtime: "30:00:00" is longer than 24 hours' in found


def test_chapters_missing() -> None:
    found = only_problem(HEADER)
    assert found.startswith("chapters: missing")
    assert "[[chapters]]" in found


def test_no_chapters() -> None:
    assert only_problem(HEADER + "chapters = []\n") == "chapters: needs at least one chapter"


def test_chapters_wrong_type() -> None:
    assert only_problem(HEADER + 'chapters = "all of them"\n') == (
        "chapters: expected [[chapters]] tables, got a string"
    )


def test_chapter_not_a_table() -> None:
    assert only_problem(HEADER + 'chapters = ["intro"]\n') == (
        "chapters[1]: expected a [[chapters]] table, got a string"
    )


def test_too_many_chapters() -> None:
    source = guide_text(*(chapter(ends_at=f'"{i // 60}:{i % 60:02d}:00"') for i in range(1, 52)))
    assert only_problem(source) == "chapters: has 51; at most 50 allowed"


def test_ends_at_must_increase() -> None:
    source = guide_text(
        chapter(ends_at='"0:14:30"'), chapter(ends_at='"0:35:00"'), chapter(ends_at='"0:31:00"')
    )
    assert only_problem(source) == (
        """chapters[3].ends_at: "0:31:00" must be later than chapter 2's end (0:35:00)"""
    )


def test_ends_at_equal_to_previous() -> None:
    source = guide_text(chapter(ends_at='"0:14:30"'), chapter(ends_at='"0:14:30"'))
    assert only_problem(source) == (
        """chapters[2].ends_at: "0:14:30" must be later than chapter 1's end (0:14:30)"""
    )


def test_ends_at_compared_with_last_valid_end() -> None:
    source = guide_text(
        chapter(ends_at='"0:40:00"'), chapter(ends_at='"soon"'), chapter(ends_at='"0:30:00"')
    )
    found = problems(source)
    assert found == [
        'chapters[2].ends_at: "soon" is not a time; write H:MM:SS such as "1:34:00"',
        """chapters[3].ends_at: "0:30:00" must be later than chapter 1's end (0:40:00)""",
    ]


def test_ends_at_beyond_runtime() -> None:
    found = only_problem(guide_text(chapter(ends_at='"1:40:00"')))
    assert found.startswith('chapters[1].ends_at: "1:40:00" is after the end of the film')
    assert "1:34:00" in found


def test_ends_at_missing() -> None:
    source = HEADER + '[[chapters]]\ntitle = "A"\nquestions = ["Q?"]\n'
    assert only_problem(source) == "chapters[1].ends_at: missing"


def test_ends_at_zero() -> None:
    assert only_problem(guide_text(chapter(ends_at='"0:00:00"'))) == (
        "chapters[1].ends_at: must be later than 0:00:00"
    )


def test_ends_at_not_a_time() -> None:
    assert only_problem(guide_text(chapter(ends_at='"0:75:00"'))) == (
        'chapters[1].ends_at: "0:75:00" is not a time; write H:MM:SS such as "1:34:00"'
    )


def test_chapter_title_missing() -> None:
    source = HEADER + '[[chapters]]\nends_at = "0:10:00"\nquestions = ["Q?"]\n'
    assert only_problem(source) == "chapters[1].title: missing"


def test_chapter_title_empty() -> None:
    source = guide_text(chapter(), chapter(title='""', ends_at='"0:20:00"'))
    assert only_problem(source) == "chapters[2].title: is empty"


def test_chapter_needs_a_question_or_a_poll() -> None:
    source = guide_text(chapter(), chapter(ends_at='"0:20:00"', questions=None))
    assert only_problem(source) == (
        "chapters[2].questions: needs at least one question (or a poll)"
    )


def test_chapter_with_empty_questions_and_no_poll() -> None:
    assert only_problem(guide_text(chapter(questions="[]"))) == (
        "chapters[1].questions: needs at least one question (or a poll)"
    )


def test_questions_wrong_type() -> None:
    assert only_problem(guide_text(chapter(questions='"Just one?"'))) == (
        "chapters[1].questions: expected a list of strings, got a string"
    )


def test_question_wrong_type() -> None:
    assert only_problem(guide_text(chapter(questions='["Fine?", 3]'))) == (
        "chapters[1].questions[2]: expected a string, got a number"
    )


def test_question_empty() -> None:
    assert only_problem(guide_text(chapter(questions='["Fine?", " "]'))) == (
        "chapters[1].questions[2]: is empty"
    )


def test_question_too_long() -> None:
    found = only_problem(guide_text(chapter(questions=f'["{"q" * 1001}"]')))
    assert found.startswith("chapters[1].questions[1]: ")
    assert "1,001 characters" in found and "at most 1,000" in found


def test_too_many_questions() -> None:
    found = only_problem(guide_text(chapter(questions="[" + '"Q?", ' * 11 + "]")))
    assert found == "chapters[1].questions: has 11; at most 10 per chapter"


def test_poll_too_few_options() -> None:
    assert only_problem(guide_text(chapter(extra=poll(options='["Only"]')))) == (
        "chapters[1].poll.options: has 1; a poll needs at least 2"
    )


def test_poll_too_many_options() -> None:
    options = "[" + ", ".join(f'"{i}"' for i in range(11)) + "]"
    assert only_problem(guide_text(chapter(extra=poll(options=options)))) == (
        "chapters[1].poll.options: has 11; a poll allows at most 10"
    )


def test_poll_option_too_long() -> None:
    found = only_problem(guide_text(chapter(extra=poll(options=f'["A", "{"o" * 101}"]'))))
    assert found.startswith("chapters[1].poll.options[2]: ")
    assert "101 characters" in found and "at most 100" in found


def test_poll_option_empty() -> None:
    assert only_problem(guide_text(chapter(extra=poll(options='["A", ""]')))) == (
        "chapters[1].poll.options[2]: is empty"
    )


def test_poll_option_repeated() -> None:
    assert only_problem(guide_text(chapter(extra=poll(options='["Yes", "No", "yes"]')))) == (
        'chapters[1].poll.options[3]: "yes" repeats option 1'
    )


def test_poll_question_too_long() -> None:
    found = only_problem(guide_text(chapter(extra=poll(question=f'"{"p" * 301}"'))))
    assert found.startswith("chapters[1].poll.question: ")
    assert "301 characters" in found and "at most 300" in found


def test_poll_question_missing() -> None:
    source = guide_text(chapter(extra='poll = { options = ["A", "B"] }'))
    assert only_problem(source) == "chapters[1].poll.question: missing"


def test_poll_options_missing() -> None:
    source = guide_text(chapter(extra='poll = { question = "Q?" }'))
    assert only_problem(source) == "chapters[1].poll.options: missing"


def test_poll_options_wrong_type() -> None:
    source = guide_text(chapter(extra='poll = { question = "Q?", options = "A or B" }'))
    assert only_problem(source) == (
        "chapters[1].poll.options: expected a list of strings, got a string"
    )


def test_poll_not_a_table() -> None:
    found = only_problem(guide_text(chapter(extra='poll = "Which?"')))
    assert found.startswith("chapters[1].poll: expected a table")
    assert found.endswith("got a string")


def test_unknown_chapter_field_suggests_the_right_one() -> None:
    source = HEADER + '[[chapters]]\ntitle = "A"\nends_at = "0:10:00"\nquestion = ["Q?"]\n'
    found = problems(source)
    assert 'chapters[1].question: unknown field; did you mean "questions"?' in found


def test_unknown_top_level_field_lists_allowed_fields() -> None:
    found = only_problem(guide_text(header=HEADER + 'author = "me"\n'))
    assert found == "author: unknown field; allowed: title, runtime, chapters"


def test_unknown_top_level_field_typo() -> None:
    found = only_problem(guide_text(header='title = "T"\nruntime = "1:34:00"\nruntim = "1"\n'))
    assert found == 'runtim: unknown field; did you mean "runtime"?'


def test_unknown_poll_field() -> None:
    found = only_problem(
        guide_text(chapter(extra='poll = { question = "Q?", options = ["A", "B"], option = 1 }'))
    )
    assert found == 'chapters[1].poll.option: unknown field; did you mean "options"?'


def test_toml_syntax_error_names_line_and_column() -> None:
    source = 'title = "T"\nruntime = "1:34:00"\n[[chapters]]\ntitle "missing equals"\n'
    found = only_problem(source)
    assert found.startswith("line 4, column ")
    assert "TOML syntax" in found


def test_toml_syntax_error_at_end_of_document() -> None:
    found = only_problem('title = "T"\nruntime = ')
    assert found.startswith("end of document: TOML syntax")


def test_duplicate_key_is_a_syntax_error() -> None:
    found = only_problem('title = "T"\ntitle = "U"\n')
    assert found.startswith("line 2, column ")


def test_not_utf8() -> None:
    source = guide_text().encode("utf-8") + b"\n# caf\xe9\n"
    found = only_problem(source)
    assert found.startswith("file: not UTF-8")
    assert "0xe9" in found


def test_file_too_large() -> None:
    source = guide_text() + "#" * MAX_GUIDE_BYTES
    found = only_problem(source)
    assert found.startswith("file: ")
    assert "64 KiB" in found
    assert only_problem(source.encode("utf-8")) == found


def test_every_problem_is_reported_at_once() -> None:
    source = (
        'title = ""\nruntime = "long"\n'
        + chapter(ends_at='"0:20:00"')
        + chapter(ends_at='"0:10:00"', questions=None)
    )
    found = problems(source)
    assert found == [
        "title: is empty",
        'runtime: "long" is not a time; write H:MM:SS such as "1:34:00"',
        """chapters[2].ends_at: "0:10:00" must be later than chapter 1's end (0:20:00)""",
        "chapters[2].questions: needs at least one question (or a poll)",
    ]


def test_problem_list_is_capped() -> None:
    source = guide_text(*(chapter(title='""', ends_at=f'"0:{i:02d}:00"') for i in range(1, 41)))
    found = problems(source)
    assert len(found) == 31
    assert found[-1] == "… and 10 more problems"


# ---------------------------------------------------------------- names and models


@pytest.mark.parametrize("name", ["social-dilemma", "a", "0", "tv-episode-2", "x" * 40])
def test_valid_guide_names(name: str) -> None:
    assert validate_guide_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "-lead", "Upper", "has space", "dots.toml", "x" * 41, "../etc", "ü"]
)
def test_invalid_guide_names(name: str) -> None:
    with pytest.raises(UserError) as caught:
        validate_guide_name(name)
    assert caught.value.key == "guide_name_invalid"
    assert caught.value.params == {"name": name}


def test_chapter_positions() -> None:
    guide = parse_guide(
        guide_text(chapter(ends_at='"0:10:00"'), chapter(ends_at='"0:30:00"')), "pos"
    )
    assert guide.chapter_starts_at(0) == 0
    assert guide.chapter_starts_at(1) == 600
    assert guide.chapter_index_at(0) == 0
    assert guide.chapter_index_at(599.9) == 0
    assert guide.chapter_index_at(600) == 1
    assert guide.chapter_index_at(1800) is None


def test_models_recheck_the_rules() -> None:
    first = Chapter(title="A", ends_at_seconds=600, questions=("Q?",))
    second = Chapter(title="B", ends_at_seconds=300, questions=("Q?",))
    with pytest.raises(ValidationError):
        Guide(name="x", title="X", runtime_seconds=900, chapters=(first, second))
    with pytest.raises(ValidationError):
        Guide(name="x", title="X", runtime_seconds=500, chapters=(first,))
    with pytest.raises(ValidationError):
        Chapter(title="A", ends_at_seconds=600)
    with pytest.raises(ValidationError):
        GuidePoll(question="Q?", options=("only",))


def test_guide_is_immutable() -> None:
    guide = parse_guide(guide_text(), "t")
    with pytest.raises(ValidationError):
        guide.title = "changed"


# ---------------------------------------------------------------- built-in guides


@pytest.fixture
def builtin() -> GuideLibrary:
    return GuideLibrary(BUILTIN_DIR, None)


def test_builtin_guides_all_load(builtin: GuideLibrary) -> None:
    assert builtin.load_errors() == []
    assert builtin.builtin_names() == ["demo", "social-dilemma", "three-act-film", "tv-episode"]
    assert builtin.operator_names() == []


@pytest.mark.parametrize("name", ["demo", "social-dilemma", "three-act-film", "tv-episode"])
def test_builtin_guide_is_sensible(builtin: GuideLibrary, name: str) -> None:
    guide = builtin.load_file(name)
    assert guide.name == name
    assert guide.title
    assert guide.chapters[-1].ends_at_seconds == guide.runtime_seconds
    polls = [c.poll for c in guide.chapters if c.poll is not None]
    assert polls
    for chapter_ in guide.chapters:
        assert chapter_.title
        assert len(chapter_.questions) >= 2
        for question in chapter_.questions:
            assert question.endswith("?"), question
    source = (BUILTIN_DIR / f"{name}.toml").read_text("utf-8")
    assert source.startswith("#"), "each built-in guide starts with a comment saying who it is for"
    assert "watchparty" in source.splitlines()[0]


def test_social_dilemma_guide(builtin: GuideLibrary) -> None:
    guide = builtin.load_file("social-dilemma")
    assert guide.title == "The Social Dilemma"
    assert guide.runtime_seconds == 94 * 60
    assert 6 <= len(guide.chapters) <= 7
    for chapter_ in guide.chapters:
        assert len(chapter_.questions) >= 2 or chapter_.poll is not None
    assert sum(1 for c in guide.chapters if c.poll is not None) >= 2
    # Breaks at least ten minutes apart: time to watch between prompts.
    ends = [0, *(c.ends_at_seconds for c in guide.chapters)]
    assert min(b - a for a, b in pairwise(ends)) >= 600
    questions = " ".join(q for c in guide.chapters for q in c.questions)
    assert "hardest to delete for a week" in questions


def test_three_act_film_guide(builtin: GuideLibrary) -> None:
    guide = builtin.load_file("three-act-film")
    assert guide.runtime_seconds == 2 * 3600
    assert [c.ends_at_seconds for c in guide.chapters] == [1800, 3600, 5400, 7200]
    assert sum(1 for c in guide.chapters if c.poll is not None) == 1


def test_tv_episode_guide(builtin: GuideLibrary) -> None:
    guide = builtin.load_file("tv-episode")
    assert guide.runtime_seconds == 45 * 60
    assert len(guide.chapters) == 3
    assert sum(1 for c in guide.chapters if c.poll is not None) == 1


def test_builtin_files_pass_the_file_checker() -> None:
    for path in sorted(BUILTIN_DIR.glob("*.toml")):
        assert read_guide_file(path).name == path.stem


# ---------------------------------------------------------------- the library


def write(folder: Path, name: str, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, "utf-8")
    return path


def test_operator_guide_overrides_builtin(tmp_path: Path) -> None:
    write(
        tmp_path, "social-dilemma.toml", guide_text(header='title = "Ours"\nruntime = "1:34:00"\n')
    )
    write(tmp_path, "film-club.toml", guide_text())
    library = GuideLibrary(BUILTIN_DIR, tmp_path)
    assert library.load_errors() == []
    assert library.load_file("social-dilemma").title == "Ours"
    assert library.operator_names() == ["film-club", "social-dilemma"]
    assert "social-dilemma" in library.builtin_names()
    assert library.names() == ["demo", "film-club", "social-dilemma", "three-act-film",
                               "tv-episode"]


def test_bad_operator_files_are_reported_not_raised(tmp_path: Path) -> None:
    write(tmp_path, "broken.toml", 'title = "T"\nruntime = \n')
    write(tmp_path, "no-chapters.toml", HEADER)
    write(tmp_path, "latin1.toml", b"title = 'caf\xe9'\n")
    write(tmp_path, "Bad Name.toml", guide_text())
    write(tmp_path, "good.toml", guide_text())
    library = GuideLibrary(BUILTIN_DIR, tmp_path)
    errors = {name: problems for name, problems in library.load_errors()}
    assert set(errors) == {"broken", "no-chapters", "latin1", "Bad Name"}
    assert errors["broken"][0].startswith("line 2, column ")
    assert errors["no-chapters"][0].startswith("chapters: missing")
    assert errors["latin1"][0].startswith("file: not UTF-8")
    assert errors["Bad Name"][0].startswith('file name: "Bad Name.toml" is not a guide name')
    assert library.operator_names() == ["good"]
    with pytest.raises(UserError) as caught:
        library.load_file("broken")
    assert caught.value.key == "guide_unknown"


def test_bad_operator_override_keeps_the_builtin(tmp_path: Path) -> None:
    write(tmp_path, "tv-episode.toml", "not toml at all")
    library = GuideLibrary(BUILTIN_DIR, tmp_path)
    assert [e.name for e in library.load_errors()] == ["tv-episode"]
    assert library.load_file("tv-episode").title.startswith("One TV episode")


def test_oversized_operator_file_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "huge.toml", guide_text() + "#" * (MAX_GUIDE_BYTES + 10))
    library = GuideLibrary(BUILTIN_DIR, tmp_path)
    [(name, found)] = library.load_errors()
    assert name == "huge"
    assert "64 KiB" in found[0]


def test_missing_operator_folder_is_reported(tmp_path: Path) -> None:
    library = GuideLibrary(BUILTIN_DIR, tmp_path / "nope")
    [(name, found)] = library.load_errors()
    assert name == str(tmp_path / "nope")
    assert found == ["folder: not found"]
    assert library.names() == ["demo", "social-dilemma", "three-act-film", "tv-episode"]


def test_other_files_in_the_folder_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "# notes")
    write(tmp_path, "guide.toml.bak", "junk")
    (tmp_path / "sub.toml").mkdir()
    library = GuideLibrary(BUILTIN_DIR, tmp_path)
    assert library.load_errors() == []
    assert library.operator_names() == []


def test_unknown_guide_lists_known_names(tmp_path: Path) -> None:
    write(tmp_path, "film-club.toml", guide_text())
    library = GuideLibrary(BUILTIN_DIR, tmp_path)
    with pytest.raises(UserError) as caught:
        library.load_file("social-dilema")
    assert caught.value.key == "guide_unknown"
    assert caught.value.params == {
        "name": "social-dilema",
        "known": ["demo", "film-club", "social-dilemma", "three-act-film", "tv-episode"],
    }


def test_lookup_ignores_case_and_spaces(builtin: GuideLibrary) -> None:
    assert builtin.load_file(" Social-Dilemma ").name == "social-dilemma"
    assert "TV-EPISODE" in builtin
    assert "nothing" not in builtin


def test_guides_are_cached_until_reload(tmp_path: Path) -> None:
    path = write(tmp_path, "club.toml", guide_text())
    library = GuideLibrary(BUILTIN_DIR, tmp_path)
    first = library.load_file("club")
    assert library.load_file("club") is first
    path.write_text(guide_text(header='title = "Changed"\nruntime = "1:34:00"\n'), "utf-8")
    assert library.load_file("club").title == "Test film"
    library.reload()
    assert library.load_file("club").title == "Changed"


def test_copy_of_builtin_in_operator_folder_loads(tmp_path: Path) -> None:
    shutil.copy(BUILTIN_DIR / "social-dilemma.toml", tmp_path / "family-night.toml")
    library = GuideLibrary(BUILTIN_DIR, tmp_path)
    assert library.load_file("family-night").title == "The Social Dilemma"


def test_read_guide_file_reports_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(GuideInvalid) as caught:
        read_guide_file(tmp_path / "missing.toml")
    assert caught.value.params["name"] == "missing"
    assert caught.value.problems[0].startswith("file: cannot be read")
