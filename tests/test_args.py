"""Argument types shared by every subcommand, and their one-line errors through the real CLI."""

import argparse

import pytest

from tankerwatch.infer.commands import args
from tankerwatch.infer.core.timestamps import normalise_utc


@pytest.mark.parametrize(("parse", "text", "value"), [
    (args.positive_int, "3", 3), (args.non_negative_int, "0", 0), (args.positive_float, "0.5", 0.5),
    (args.probability, "0", 0.0), (args.probability, "1", 1.0), (args.single_gsd, "0.5", 0.5),
    (args.gsd_range, "0.5:3", (0.5, 3.0)), (args.gsd_range, "2", (2.0, 2.0)), (args.regex, r"(\d{8})", r"(\d{8})"),
])
def test_accepts(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize(("parse", "text", "says"), [
    (args.positive_int, "0", "> 0"), (args.positive_int, "1.5", "whole number"),
    (args.non_negative_int, "-1", ">= 0"), (args.positive_float, "nan", "> 0"),
    (args.positive_float, "x", "a number"), (args.probability, "1.01", "[0, 1]"), (args.probability, "nan", "[0, 1]"),
    (args.single_gsd, "0.5:2", "a range"), (args.gsd_range, "3:1", "A <= B"), (args.regex, "(", "regular expression"),
])
def test_refuses_with_what_is_wrong(parse, text, says):
    with pytest.raises(argparse.ArgumentTypeError, match=says.replace("[", r"\[").replace("]", r"\]")):
        parse(text)


@pytest.mark.parametrize(("text", "utc"), [
    ("2024-03-05T02:10:00Z", "2024-03-05T02:10:00Z"), ("2024-03-05T02:10:00", "2024-03-05T02:10:00Z"),
    ("2024-03-05T12:10:00+10:00", "2024-03-05T02:10:00Z"), (" 2024-03-05 ", "2024-03-05T00:00:00Z"),
])
def test_acquisition_times_normalise_to_utc(text, utc):
    assert normalise_utc(text) == utc


def test_acquisition_time_that_is_not_iso_8601_is_refused():
    with pytest.raises(ValueError):
        normalise_utc("5 March 2024")
