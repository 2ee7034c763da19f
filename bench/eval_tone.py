"""Real tone-deaf brand posts, and supportive ones from the same situations, checked as
drafts against a real crisis stream of the same kind (issue 21).

Each situation is replayed as a running monitor lives it: one brand ("acme"), a day of
ordinary customer-care traffic (TWCS customer tweets, in time order), then the CrisisLex
T6 sample of a crisis of the same kind (every tweet of the event, on- and off-topic, in
tweet-id order, over one hour) while care traffic goes on. No crisis is declared: the
check must find the crisis on the audience stream and learn what it is about. Each draft
is then checked as `brandpulse check --offline` does (`engine_answer`).

The rules were chosen on the DEV situations only; HELD_OUT ones are reported once (the
split is by event, fixed before any rule was written, docs/check.md "Evidence").
Texts are as reported by the cited source; where the source reports the offer rather than
quoting it (marked "as reported"), the wording is rebuilt from the reported facts.

    .venv/bin/python bench/eval_tone.py [--dev | --all]   # held-out only by default
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streams.commands.check_client import engine_answer  # noqa: E402
from streams.config import parse_brands  # noqa: E402
from streams.core.brand import BrandsConfig  # noqa: E402
from streams.engine import Engine  # noqa: E402
from streams.events import Side, SocialEvent  # noqa: E402
from streams.wire import format_rfc3339  # noqa: E402

BRAND = "acme"
#: Kind of situation -> the CrisisLex T6 event replayed for it.
STREAMS = {
    "hurricane": "2012_Sandy_Hurricane",
    "attack": "2013_Boston_Bombings",
    "flood": "2013_Queensland_Floods",
    "flood-ab": "2013_Alberta_Floods",
    "tornado": "2013_Oklahoma_Tornado",
}
#: Situations (events) whose cases the rules were chosen on; the others are held out.
DEV_SITUATIONS = frozenset({"Hurricane Sandy 2012", "Boston Marathon bombing 2013",
                            "Tehran protests 2009"})


@dataclass(frozen=True, slots=True)
class Case:
    situation: str  # the real event: the unit of the dev / held-out split
    kind: str  # key of STREAMS
    brand: str
    text: str
    source: str


# Tone-deaf brand posts criticised during a crisis or a tragedy. None is one of the five
# cases of tests/unit/test_behaviour.py (American Apparel, Kenneth Cole/Cairo, CelebBoutique,
# Entenmann's and the "stuck inside" sale are left out).
TONE_DEAF = (
    Case("Hurricane Sandy 2012", "hurricane", "Gap",
         "All impacted by #Sandy, stay safe! We'll be doing lots of Gap.com shopping today. "
         "How about you?",
         "https://www.thedrum.com/news/2012/10/30/gap-joins-american-apparel-suggesting-"
         "hurricane-sandy-could-be-good-time-online"),
    Case("Hurricane Sandy 2012", "hurricane", "Urban Outfitters",
         "This storm blows, but free shipping on all orders doesn't. Use code ALLSOGGY",
         "http://www.newsday.com/entertainment/tv/shop-talk-1.811931/sandy-sales-spark-"
         "controversy-1.4173643"),
    Case("Hurricane Sandy 2012", "hurricane", "Signer22",  # as reported
         "20% off all online purchases during the storm with code SANDY. Shop from home!",
         "http://www.newsday.com/entertainment/tv/shop-talk-1.811931/sandy-sales-spark-"
         "controversy-1.4173643"),
    Case("Hurricane Sandy 2012", "hurricane", "Steven Alan",  # as reported
         "Free shipping on every order with code SANDYFREESHIP",
         "https://www.latimes.com/business/la-xpm-2012-oct-30-la-fi-mo-american-apparel-"
         "sandy-20121030-story.html"),
    Case("Hurricane Sandy 2012", "hurricane", "Owner Operator",  # as reported
         "15% off orders over $100: enter FRANKENSTORM at checkout",
         "https://www.latimes.com/business/la-xpm-2012-oct-30-la-fi-mo-american-apparel-"
         "sandy-20121030-story.html"),
    Case("Hurricane Sandy 2012", "hurricane", "President's Choice",
         "What's scarier? Hurricane Sandy or a beverage with marshmallow eyeballs?",
         "https://www.macleans.ca/general/advertisers-net-social-media-flops-with-tweets-"
         "during-sandy/"),
    Case("Hurricane Sandy 2012", "hurricane", "webinar seller",  # as reported
         "You can thank Sandy: due to overwhelming demand, our discounted registration "
         "period is extended!",
         "https://johnkennedyinvestigations.wordpress.com/2012/11/08/can-we-thank-sandy/"),
    Case("Boston Marathon bombing 2013", "attack", "Epicurious",
         "Boston, our hearts are with you. Here's a bowl of breakfast energy we could all "
         "use to start today: http://epi.us/breakfast",
         "https://money.cnn.com/gallery/news/companies/2013/12/18/dumbest-moments-"
         "business/4.html"),
    Case("Boston Marathon bombing 2013", "attack", "Epicurious",
         "In honor of Boston and New England, may we suggest: whole-grain cranberry scones!",
         "https://money.cnn.com/gallery/news/companies/2013/12/18/dumbest-moments-"
         "business/4.html"),
    Case("Tehran protests 2009", "attack", "Habitat",  # as reported
         "#Mousavi Join the Habitat mailing list for 20% off the new spring collection",
         "https://www.theguardian.com/technology/blog/2009/jun/24/habitat-twitter-iran"),
    Case("Newtown shooting 2012", "attack", "Kmart",
         "Our thoughts & prayers go out to those affected by the tragedy in Newtown, CT. "
         "#PrayForNewtown #ShopYourWay",
         "https://www.techrepublic.com/pictures/10-most-embarrassing-twitter-blunders/"),
    Case("Aurora shooting 2012", "attack", "American Rifleman",
         "Good morning, shooters. Happy Friday! Weekend plans?",
         "http://gulfnews.com/business/media-marketing/top-social-media-fails-1.1216681"),
    Case("9/11 anniversary", "attack", "Miracle Mattress",
         "What better way to remember 9/11 than with a Twin Tower sale? Right now you can get "
         "any sized mattress for twin price. We'll never forget.",
         "https://www.good.is/articles/tasteless-twin-tower-sale"),
    Case("9/11 anniversary", "attack", "a Wisconsin golf course",  # as reported
         "Remember 9/11 with us: 9 holes of golf for just $9.11 today",
         "https://thinkprogress.org/five-most-ridiculous-9-11-tributes-spotted-this-year-"
         "7e2b9714d0fa/"),
    Case("9/11 anniversary", "attack", "The Ridges Resort",
         "In observance of 9/11, The Oaks' Bar is offering free hors d'oeuvres while they "
         "last and happy hour drink prices until close. Special starts at 4 and goes until "
         "close at The Oaks' Bar only.",
         "https://thinkprogress.org/five-most-ridiculous-9-11-tributes-spotted-this-year-"
         "7e2b9714d0fa/"),
    Case("9/11 anniversary", "attack", "a craft store",
         "9/11 Sale! Avoid crafting emergencies & stock up now!",
         "https://thinkprogress.org/five-most-ridiculous-9-11-tributes-spotted-this-year-"
         "7e2b9714d0fa/"),
    Case("9/11 anniversary", "attack", "Bikram Yoga Arlington",  # as reported
         "Patriot Day Sale: 9 + 11 = 20% off!",
         "https://slate.com/news-and-politics/2014/09/bikram-arlington-9-11-promotion-this-"
         "year-s-worst-patriot-day-sale.html"),
    Case("Indian Ocean tsunami warning 2012", "flood", "KFC Thailand",
         "Let's hurry home and follow the earthquake news. And don't forget to order your "
         "favourite KFC menu.",
         "https://www.businessinsider.com.au/kfc-thailand-apologizes-for-its-inappropriate-"
         "facebook-posting-after-the-earthquake-2012-4"),
    Case("Japan earthquake and tsunami 2011", "flood-ab", "Bing",
         "How you can #SupportJapan - http://binged.it/fEh7iT. For every retweet, @bing will "
         "give $1 to Japan quake victims, up to $100K.",
         "http://wallblog.co.uk/2012/10/30/american-apparel-causes-twitter-outrage-with-"
         "hurricane-sandy-sale/"),
    Case("Alabama tornadoes 2011", "tornado", "Backcountry.com",
         "Mother Nature hates you. Deal with it.",
         "https://www.adpulp.com/stop-walking-on-eggshells/"),
)

REAL = "real post"
WRITTEN = "written for this evaluation: what brands post in such hours"
# Supportive or neutral posts in the same situations: must stay ok.
SUPPORTIVE = (
    Case("Hurricane Sandy 2012", "hurricane", "Gap",
         "To all impacted by #Sandy, stay safe. Our check-in and tweet earlier were only "
         "meant to remind all to keep safe and indoors.",
         f"{REAL}: https://www.torbenrick.eu/blog/social-media/dont-piggy-back-ride-on-"
         "natural-disaster/"),
    Case("Hurricane Sandy 2012", "hurricane", "President's Choice",
         "We sincerely apologize for the insensitive tweet. We understand the seriousness of "
         "the storm and didn't intend to make light of it.",
         f"{REAL}: https://www.macleans.ca/general/advertisers-net-social-media-flops-with-"
         "tweets-during-sandy/"),
    Case("Hurricane Sandy 2012", "hurricane", "a bank", "Hurricane Sandy: ATM fees and late "
         "fees are waived for customers in New York and New Jersey until Friday.", WRITTEN),
    Case("Hurricane Sandy 2012", "hurricane", "a retailer", "Our stores in New Jersey and "
         "Long Island are closed today because of the hurricane. Please stay safe.", WRITTEN),
    Case("Hurricane Sandy 2012", "hurricane", "a retailer", "Text REDCROSS to 90999 to give "
         "$10 to Hurricane Sandy relief. Our thoughts are with everyone affected.", WRITTEN),
    Case("Hurricane Sandy 2012", "hurricane", "an airline", "#Sandy: flights to JFK and "
         "Newark are cancelled until Wednesday. Rebook for free on our app.", WRITTEN),
    Case("Hurricane Sandy 2012", "hurricane", "a laundry brand", "Our mobile laundromat is "
         "in Seaside Heights: free laundry service for families hit by the storm.", WRITTEN),
    Case("Boston Marathon bombing 2013", "attack", "a retailer", "Our Boylston Street store "
         "is closed today. Our hearts are with the victims and their families.", WRITTEN),
    Case("Boston Marathon bombing 2013", "attack", "a brand", "We are pausing all scheduled "
         "posts out of respect for those affected in Boston.", WRITTEN),
    Case("Tehran protests 2009", "attack", "a brand",
         "Our thoughts are with the people of Iran.", WRITTEN),
    Case("Newtown shooting 2012", "attack", "a retailer", "Our hearts go out to the families "
         "in Newtown. We have cancelled this weekend's events.", WRITTEN),
    Case("Aurora shooting 2012", "attack", "CelebBoutique",
         "We are incredibly sorry for our tweet about Aurora.",
         f"{REAL}: http://www.upi.com/Top_News/US/2012/07/21/Fashion-firm-apologizes-for-"
         "Aurora-tweet/UPI-90951342892511/"),
    Case("9/11 anniversary", "attack", "Walgreens", "We will always remember.",
         f"{REAL}: https://adage.com/article/digital/t-schooled-twitter-inane-9-11-tweets/"
         "244103"),
    Case("9/11 anniversary", "attack", "Macy's",
         "Hug your family. Reflect on the sunset. Look forward to the sunrise. Hold your "
         "head high. Imagine a better world. And #NeverForget 9/11/2001",
         f"{REAL}: https://adage.com/article/digital/t-schooled-twitter-inane-9-11-tweets/"
         "244103"),
    Case("9/11 anniversary", "attack", "AT&T",
         "We apologize to anyone who felt our post was in poor taste. The image was solely "
         "meant to pay respect to those affected by the 9/11 tragedy.",
         f"{REAL}: https://gothamist.com/news/att-apologized-for-this-911-tweet-but-nobody-"
         "seems-too-forgiving"),
    Case("9/11 anniversary", "attack", "Cinnabon",
         "Today we honor the heroes and remember those who lost their lives on 9/11/01.",
         f"{REAL}: https://foreignpolicy.com/2014/09/11/so-many-brands-tweeting-about-911-"
         "so-few-thinking/"),
    Case("Indian Ocean tsunami warning 2012", "flood", "a delivery app", "Tsunami warning: "
         "deliveries to coastal areas are suspended tonight. Please follow the evacuation "
         "orders and stay safe.", WRITTEN),
    Case("Japan earthquake and tsunami 2011", "flood-ab", "a telecom", "Calls and texts to "
         "Japan are free until Sunday so you can reach your loved ones.", WRITTEN),
    Case("Alabama tornadoes 2011", "tornado", "Backcountry.com",
         "We messed up. We send our deepest condolences to the families of those who lost "
         "their lives and to everyone now faced with rebuilding their homes.",
         f"{REAL}: https://www.adpulp.com/stop-walking-on-eggshells/"),
    Case("Alabama tornadoes 2011", "tornado", "a grocer", "Our Tuscaloosa store is open as a "
         "shelter tonight: drinking water and phone charging for anyone who needs it.",
         WRITTEN),
    Case("Alabama tornadoes 2011", "tornado", "a bank", "Customers affected by the tornado: "
         "our branch hours are extended and overdraft fees are waived this week.", WRITTEN),
)


def split(cases: tuple[Case, ...], held_out: bool) -> list[Case]:
    return [c for c in cases if (c.situation not in DEV_SITUATIONS) == held_out]


def _t6(path: Path, event: str) -> list[tuple[int, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [(int(r["tweet_id"]), r["text"]) for r in csv.DictReader(handle)
                if r["event"] == event]
    return sorted(rows)


def _care(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [r["text"] for r in csv.DictReader(handle) if r["inbound"] == "True"]


START = 1_700_000_000.0  # the crisis' first tweet (event times are relative)
DAY = 86_400.0
CRISIS_S = 3600.0


def brands() -> BrandsConfig:
    return parse_brands({"brand": [{"name": BRAND, "handles": {"twitter": [BRAND]}}]})


def situation_stream(shared: Path, kind: str) -> Iterator[SocialEvent]:
    """A day of care traffic, then one hour of the crisis with care traffic going on."""
    care = _care(shared / "twcs" / "twcs_5k.csv")
    crisis = _t6(shared / "crisis" / "crisislex_t6_dev.csv", STREAMS[kind])
    before = int(len(care) * DAY / (DAY + CRISIS_S))
    events = [(START - DAY + i * DAY / before, f"care{i}", text)
              for i, text in enumerate(care[:before])]
    during = care[before:]
    events += [(START + i * CRISIS_S / max(1, len(during)), f"care-d{i}", text)
               for i, text in enumerate(during)]
    events += [(START + i * CRISIS_S / len(crisis), f"t6-{tweet}", text)
               for i, (tweet, text) in enumerate(crisis)]
    for at, eid, text in sorted(events):
        yield SocialEvent(Side.AUDIENCE, eid, BRAND, "twitter", "someone", text, at)


def replayed(shared: Path, kind: str) -> Engine:
    engine = Engine(brands(), persisted=False)
    for _ in engine.ingest_all(situation_stream(shared, kind), START + CRISIS_S):
        pass
    return engine


def verdicts(shared: Path, cases: list[Case]) -> list[tuple[Case, dict[str, object]]]:
    """Each case's check answer against the replayed stream of its kind."""
    engines: dict[str, Engine] = {}
    out = []
    for case in cases:
        engine = engines.get(case.kind)
        if engine is None:
            engine = engines[case.kind] = replayed(shared, case.kind)
        status, answer = engine_answer(
            engine, {"brand": BRAND, "text": case.text, "at": format_rfc3339(START + CRISIS_S)},
            START + CRISIS_S)
        assert status == 200, answer
        out.append((case, answer))
    return out


def report(shared: Path, held_out: bool) -> tuple[float, int]:
    """Print the verdicts; (share of tone-deaf drafts held or blocked, supportive held)."""
    title = "HELD OUT" if held_out else "DEV"
    bad = verdicts(shared, split(TONE_DEAF, held_out))
    good = verdicts(shared, split(SUPPORTIVE, held_out))
    caught = sum(a["verdict"] != "ok" for _, a in bad)
    wrongly = sum(a["verdict"] != "ok" for _, a in good)
    print(f"== {title}: tone-deaf {caught}/{len(bad)} hold or block; "
          f"supportive {wrongly}/{len(good)} held or blocked")
    for case, answer in bad + good:
        print(f"  {answer['verdict']:<5} {case.brand[:18]:<18} {case.text[:60]!r}\n"
              f"        {answer['summary'][:160]}")
    return caught / len(bad), wrongly


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from tests.conftest import shared_data_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="the dev situations too")
    parser.add_argument("--dev", action="store_true", help="the dev situations only")
    args = parser.parse_args()
    shared = shared_data_dir()
    if shared is None:
        print("evaluation data absent (../shared/data)", file=sys.stderr)
        return 2
    if args.all or args.dev:
        report(shared, held_out=False)
    if not args.dev:
        report(shared, held_out=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
