"""The `/watchparty …` text syntax shared by Telegram and the console."""

from __future__ import annotations

import pytest

from bot import commands as c
from bot import render
from bot.arguments import parse_command_text
from bot.errors import UserError


@pytest.mark.parametrize(("text", "expected"), [
    ("", c.ShowHelp()),
    ("help", c.ShowHelp()),
    ("create The Social Dilemma | Friday 20:00 | social-dilemma",
     c.CreateParty("The Social Dilemma", "Friday 20:00", "social-dilemma")),
    ("create Movie tomorrow 8pm", c.CreateParty("Movie", "tomorrow 8pm")),
    ("create Movie | in 45m | guide=tv-episode | timezone=Europe/Berlin",
     c.CreateParty("Movie", "in 45m", "tv-episode", "Europe/Berlin")),
    ("create title=Our film | when=in 2 hours", c.CreateParty("Our film", "in 2 hours")),
    ("export K7Q2MX csv", c.Export("K7Q2MX", "csv")),
    ("export K7Q2MX | html | anonymize=yes", c.Export("K7Q2MX", "html", True)),
    ("export", c.Export(None, "json")),
    ("start", c.StartParty(None, "now")),
    ("start now", c.StartParty(None, "now")),
    ("start ready 3", c.StartParty(None, "ready 3")),
    ("start K7Q2MX ready 3", c.StartParty("K7Q2MX", "ready 3")),
    ("now", c.ShowInfo(None)),
    ("info k7q2mx", c.ShowInfo("k7q2mx")),
    ("join", c.SetRsvp(None, "going")),
    ("leave K7Q2MX", c.SetRsvp("K7Q2MX", "not_going")),
    ("link K7Q2MX", c.LinkChat("K7Q2MX")),
    ("settings reminders=15m,1m creators=moderators",
     c.ChangeSettings(reminders="15m,1m", creators="moderators")),
    ("settings retention-days=30", c.ChangeSettings(retention_days="30")),
    ("guide list", c.ListGuides()),
    ("guide show social-dilemma", c.ShowGuide("social-dilemma")),
    ("privacy", c.ShowPrivacy()),
    ("forget-me", c.ForgetMe()),
    ("CREATE X | 20:00", c.CreateParty("X", "20:00")),
    # A free-text option given by name takes the words after it, up to the next name=value.
    ("start when=ready 3", c.StartParty(None, "ready 3")),
    ("start K7Q2MX when=ready 3", c.StartParty("K7Q2MX", "ready 3")),
    ("create Movie when=tomorrow 8pm guide=quick", c.CreateParty("Movie", "tomorrow 8pm", "quick")),
    # An empty first | part is the left-out party: the options after it keep their places.
    ("export | html | anonymize=yes", c.Export(None, "html", True)),
    ("export | csv", c.Export(None, "csv")),
    ("create Movie in 45m", c.CreateParty("Movie", "in 45m")),
    ("create Movie friday 20:30", c.CreateParty("Movie", "friday 20:30")),
])
def test_parses(text: str, expected: c.Command) -> None:
    assert parse_command_text(text) == expected


@pytest.mark.parametrize(("text", "says"), [
    ("dance", "There's no subcommand “dance”. Known: calendar, cancel, create"),
    ("create", "/watchparty create needs title, when. Options in order: "
               "title | when | guide | timezone | repeat | episodes."),
    ("create Movie", "needs when"),
    ("link", "/watchparty link needs code"),
    ("list everything", "/watchparty list takes no more options; I don't know what to do "
                        "with “everything”."),
    ("export K7Q2MX | json | anonymize=perhaps", "“perhaps” isn't yes or no."),
    ("guide", "There's no subcommand “guide”"),
    ("guide delete x", "There's no subcommand “guide delete”"),
    ("guide upload", "Attach the guide's .toml file"),
    ("guide show", "/watchparty guide show needs name"),
])
def test_bad_input_says_what_is_accepted(text: str, says: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_command_text(text)
    assert says in render.error(caught.value).plain()


@pytest.mark.parametrize(("text", "example"), [
    ("create Movie night tomorrow 8pm", "/watchparty create Movie night | tomorrow 8pm"),
    ("create Singin in the Rain in 2 hours", "/watchparty create Singin in the Rain | in 2 hours"),
    ("create The Social Dilemma friday 20:00 guide=social-dilemma",
     "/watchparty create The Social Dilemma | friday 20:00"),
])
def test_words_that_do_not_split_cleanly_ask_for_the_pipe_form(text: str, example: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_command_text(text)
    said = render.error(caught.value).plain()
    assert said.startswith("I can't tell where one option ends and the next begins in “"), said
    assert said.endswith(f"Put a | between them, e.g. {example}"), said
