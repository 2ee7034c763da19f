"""TWCS CSV conversion: parsing quirks, brand attribution, brands file filtering, counts."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from pathlib import Path

import pytest

from streams.config import parse_brands
from streams.events import AudienceKind, Side
from streams.sources.twcs import (
    load_twcs,
    normalize_id,
    parse_twitter_time,
    read_twcs_rows,
    twcs_brands,
)

# Hand-written: a leading unnamed index column, float ids, a multi-line quoted text,
# a response_tweet_id list, an unsorted file, and links given from one side only.
SNIPPET = """\
,tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id
0,10,AcmeSupport,False,Tue Oct 31 10:05:00 +0000 2017,@501 Sorry! DM us.,,11.0
1,11,501,True,Tue Oct 31 10:00:00 +0000 2017,"@AcmeSupport my order
never arrived","10,12",
2,12,502,True,Tue Oct 31 10:01:00 +0000 2017,same here,,11.0
3,20,BetaHelp,False,Tue Oct 31 09:00:00 +0000 2017,New plans out today!,,
4,21,503,True,Tue Oct 31 11:00:00 +0000 2017,is anyone there?,22,
5,22.0,BetaHelp,False,Tue Oct 31 11:30:00 +0000 2017,@503 yes we are,,
6,30,504,True,Tue Oct 31 12:00:00 +0000 2017,hello world,,
7,40,505,True,Tue Oct 31 12:30:00 +0000 2017,@betahelp and @AcmeSupport both broke,,10.0
"""


def _load(text: str, brands=None):  # type: ignore[no-untyped-def]
    return load_twcs(io.StringIO(text), brands)


def test_normalize_id_handles_floats_and_blanks() -> None:
    assert normalize_id("3.0") == "3"
    assert normalize_id(" 1234 ") == "1234"
    assert normalize_id("1.5e3") == "1500"
    assert normalize_id("") is None
    assert normalize_id(None) is None


def test_parse_twitter_time_honours_the_offset() -> None:
    expected = datetime.fromisoformat("2017-10-31T22:10:47+00:00").timestamp()
    assert parse_twitter_time("Tue Oct 31 22:10:47 +0000 2017") == expected
    assert parse_twitter_time("Tue Oct 31 23:10:47 +0100 2017") == expected
    assert parse_twitter_time("Tue Oct 31 17:40:47 -0430 2017") == expected
    with pytest.raises(ValueError):
        parse_twitter_time("2017-10-31 22:10:47")


def test_rows_parse_float_ids_multiline_text_and_response_lists() -> None:
    rows = {r.tweet_id: r for r in read_twcs_rows(io.StringIO(SNIPPET))}
    assert set(rows) == {"10", "11", "12", "20", "21", "22", "30", "40"}
    assert rows["11"].text == "@AcmeSupport my order\nnever arrived"
    assert rows["11"].response_ids == ("10", "12")
    assert rows["10"].in_reply_to == "11"
    assert rows["22"].inbound is False and rows["21"].inbound is True


def test_bare_carriage_return_inside_unquoted_text_stays_in_one_row() -> None:
    text = ("tweet_id,author_id,inbound,created_at,text,response_tweet_id,"
            "in_response_to_tweet_id\n"
            "1,601,True,Tue Oct 31 10:00:00 +0000 2017,@Acme hi \r\rsecond part,,\n"
            "2,Acme,False,Tue Oct 31 10:01:00 +0000 2017,@601 hello,,1.0\r\n")
    rows = list(read_twcs_rows(io.StringIO(text, newline="\n")))
    assert [r.tweet_id for r in rows] == ["1", "2"]
    assert rows[0].text == "@Acme hi \r\rsecond part"
    assert rows[1].in_reply_to == "1"


def test_brand_posts_are_replies_or_broadcasts() -> None:
    events, brands, _ = _load(SNIPPET)
    posts = {e.id: e for e in events if e.side is Side.BRAND}
    assert set(posts) == {"10", "20", "22"}
    assert posts["10"].brand == "AcmeSupport" and posts["10"].in_reply_to == "11"
    assert posts["20"].in_reply_to is None  # broadcast
    assert all(e.platform == "twitter" and e.kind is None for e in posts.values())
    assert sorted(b.name for b in brands) == ["AcmeSupport", "BetaHelp"]


def test_customer_attribution_by_mention_then_thread_both_directions() -> None:
    events, _, stats = _load(SNIPPET)
    audience = {e.id: e for e in events if e.side is Side.AUDIENCE}
    assert audience["11"].brand == "AcmeSupport"  # mentions it
    assert audience["12"].brand == "AcmeSupport"  # replies to 11, which is Acme's thread
    # 21 mentions nobody and has no parent; BetaHelp's tweet 22 is only linked from 21's
    # response_tweet_id (22 has no in_response_to), and appears after it in the file.
    assert audience["21"].brand == "BetaHelp"
    # A tweet mentioning two brands (case-insensitively) is a message of each of them.
    assert {e.brand for e in events if e.id == "40"} == {"BetaHelp", "AcmeSupport"}
    assert "30" not in audience
    assert stats.unattributed == 1
    assert audience["12"].kind is AudienceKind.REPLY
    assert audience["11"].kind is AudienceKind.MENTION
    assert audience["11"].author == "501"


def test_attribution_follows_multi_hop_threads() -> None:
    text = """\
tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id
3,Gamma,False,Tue Oct 31 10:03:00 +0000 2017,@702 we hear you,,2.0
2,702,True,Tue Oct 31 10:02:00 +0000 2017,me too,3,1.0
1,701,True,Tue Oct 31 10:01:00 +0000 2017,this app is down,2,
"""
    events, _, stats = _load(text)
    assert {e.id: e.brand for e in events} == {"1": "Gamma", "2": "Gamma", "3": "Gamma"}
    assert stats.unattributed == 0


def test_events_are_sorted_by_time_then_id() -> None:
    events, _, _ = _load(SNIPPET)
    keys = [(e.created_at, e.id) for e in events]
    assert keys == sorted(keys)
    assert events[0].id == "20"


def test_brands_file_filters_other_brands_and_renames() -> None:
    brands = parse_brands({"brand": [{"name": "acme", "handles": {"twitter": ["acmesupport"]}}]})
    events, used, stats = _load(SNIPPET, brands)
    assert used is brands
    assert {e.brand for e in events} == {"acme"}
    # 40 mentions @betahelp first, but only acme is configured, so acme gets it.
    assert sorted(e.id for e in events) == ["10", "11", "12", "40"]
    # Unknown brand: BetaHelp's posts 20 and 22, and 21 (in BetaHelp's thread).
    assert stats.unknown_brand == 3
    assert stats.unattributed == 1
    assert stats.rows == stats.accounted == 8


def test_configured_mention_beats_unconfigured_one() -> None:
    brands = parse_brands({"brand": [{"name": "beta", "handles": {"twitter": ["BetaHelp"]}}]})
    events, _, _ = _load(SNIPPET, brands)
    assert {e.id: e.brand for e in events if e.id == "40"} == {"40": "beta"}


def test_duplicates_and_invalid_rows_are_counted() -> None:
    text = SNIPPET + (
        "8,10,AcmeSupport,False,Tue Oct 31 10:05:00 +0000 2017,@501 Sorry! DM us.,,11.0\n"
        "9,50,506,True,not a date,@AcmeSupport hi,,\n"
        "10,,507,True,Tue Oct 31 10:00:00 +0000 2017,no id,,\n")
    events, _, stats = _load(text)
    assert stats.rows == 11
    assert stats.duplicates == 1
    assert stats.invalid == 2 and len(stats.invalid_examples) == 2
    assert stats.accounted == stats.rows
    assert stats.brand_posts + stats.audience_messages == 7
    assert len(events) == 8  # tweet 40 is an audience message of two brands


def test_missing_columns_raise() -> None:
    with pytest.raises(ValueError, match="in_response_to_tweet_id"):
        list(read_twcs_rows(io.StringIO("tweet_id,author_id,inbound,created_at,text\n")))


def test_twcs_brands_derives_outbound_authors_with_sla() -> None:
    brands = twcs_brands(list(read_twcs_rows(io.StringIO(SNIPPET))), sla_seconds=900)
    assert [b.name for b in brands] == ["AcmeSupport", "BetaHelp"]
    acme = brands.get("AcmeSupport")
    assert acme is not None and acme.sla_seconds == 900
    assert acme.handles == {"twitter": frozenset({"acmesupport"})}
    with pytest.raises(ValueError):
        twcs_brands(list(read_twcs_rows(io.StringIO(SNIPPET.splitlines()[0] + "\n"))))


def test_five_thousand_rows_convert_with_every_reply_attributed() -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["tweet_id", "author_id", "inbound", "created_at", "text",
                     "response_tweet_id", "in_response_to_tweet_id"])
    for n in range(2500):
        writer.writerow([2 * n + 1, 1000 + n, True, "Tue Oct 31 10:00:00 +0000 2017",
                         f"@Brand{n % 50} help", f"{2 * n + 2}", ""])
        writer.writerow([f"{2 * n + 2}.0", f"Brand{n % 50}", False,
                         "Tue Oct 31 10:09:00 +0000 2017", "sure", "", f"{2 * n + 1}.0"])
    buf.seek(0)
    events, brands, stats = load_twcs(buf)  # speed: bench/, never a timed assertion
    assert len(events) == 5000 and len(brands) == 50 and stats.unattributed == 0


def test_real_sample_every_row_is_accounted_for(shared_data: Path) -> None:
    real_file = shared_data / "twcs/twcs_5k.csv"
    # Independent count: a record starts with "index,tweet_id,author,True|False,".
    record = re.compile(r"^\d+,[\d.]+,([^,]+),(True|False),", re.MULTILINE)
    raw = real_file.read_text(encoding="utf-8")
    starts = record.findall(raw)
    outbound_authors = {author for author, inbound in starts if inbound == "False"}
    events, brands, stats = load_twcs(real_file)
    assert len(outbound_authors) == 76
    assert len(brands) == 76
    assert stats.rows == len(starts) == stats.accounted
    assert stats.invalid == 0
    assert stats.brand_posts == sum(1 for _, inbound in starts if inbound == "False")
    # A brand reply and the customer tweet it answers should nearly always share the brand.
    by_id = {e.id: e for e in events}
    pairs = [(e.brand, by_id[e.in_reply_to].brand) for e in events
             if e.side is Side.BRAND and e.in_reply_to in by_id
             and by_id[e.in_reply_to].side is Side.AUDIENCE]
    agree = sum(1 for a, b in pairs if a == b)
    assert pairs and agree / len(pairs) > 0.97
