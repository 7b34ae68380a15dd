"""The shipped abuse model on what real chat looks like, the presets a server chooses, and the
public-dataset mappings. Every text here was written for these tests (none is fetched data)."""

from __future__ import annotations

import csv
import json

import pytest

from bot.core.policy import PRESETS, ModerationPolicy, PolicyError
from bot.core.verdicts import model_verdict
from bot.moderation.datasets import (
    PublicRow,
    labelled_chat,
    read_convabuse,
    read_davidson,
    read_ethos,
    read_gab_hate,
    read_olid,
    read_youtube_spam,
)
from bot.moderation.model import CASUAL, SHIPPED_MODERATION, AbuseScorer, load_head

# Everyday chat: none of it is abuse under the guide, and none may go to review by default.
EMOTES_AND_ONE_WORD = [
    "uwu",
    "?",
    "._.",
    "i",
    "ok",
    "k",
    "lol",
    "same",
    "gg",
    "brb",
    "ty!",
    "wait what",
    "noooo way",
    "hahahaha",
    ":pepe:",
    ":kekw: :kekw: :kekw:",
    "<:sadcat:104857600012345678>",
    "👀",
    "😂😂😂",
    "do they now",
    "we should plan soon",
]
QUOTES_AND_LINKS = [
    "> we should plan soon\nyes!! saturday works for me",
    "> i am never losing to him again\nfamous last words",
    "https://tenor.com/view/dancing-cat-gif-2261",
    "the docs cover it: https://docs.python.org/3/library/asyncio-task.html",
    "pinned the schedule here https://example.org/raid-night.png",
]
TEASING_AND_GAME_TALK = [
    "you really thought that jump would work lmao",
    "imagine losing to the tutorial boss haha",
    "sam you absolute legend, carried us again",
    "the sniper on their team killed me five times in a row",
    "we got destroyed in ranked last night",
    "headshot him from across the map, so clean",
    "this exam is going to kill me",
]
PROFANITY_AT_NO_ONE = [
    "holy shit that was close",
    "fuck this printer honestly",
    "this patch is such bullshit, they nerfed everything",
    "damn, the servers are down again",
]
# Replies that name the writer's or others' faith, origin or orientation: civil.
NAMING_A_GROUP = [
    "My gay brother and I both read the article and disagree about it.",
    "I'm Jewish and I found the summary fair.",
    "Being Black in America, I see the tariff story differently.",
    "Our mosque hosted a talk on the trade deal last night.",
    "I'm a Sikh farmer's son, the oil numbers matter to us.",
    "Muslims in my town mostly support the partnership.",
]
# Heated, rude-about-politicians replies of both leans: allowed.
PRO_PARTNERSHIP = [
    "Say what you like about Trump, the framework is a real win and the cynics look silly now.",
    "The sceptics screamed surrender for months and the defence deal still got signed. Cope.",
]
CRITICAL = [
    "This so-called partnership is a shakedown and Modi folded like a cheap lawn chair.",
    "The oil numbers are invented, both governments are lying through their teeth.",
]
# Attacks on members, threats and hate still go to review.
ABUSE = [
    "you're a pathetic loser and everyone in this server is sick of you",
    "shut your mouth you worthless idiot",
    "i know where you live and i'm coming for you tonight",
    "people of that religion are vermin and should be driven out of the country",
]


@pytest.fixture(scope="module", params=["standard", CASUAL])
def scorer(request, stance_encoder) -> AbuseScorer:
    """Each shipped head: the standard one and the casual chat style's (`casual/`)."""
    folder = SHIPPED_MODERATION / (request.param if request.param == CASUAL else "")
    head = load_head(folder, stance_encoder)
    assert head is not None, f"the shipped {request.param} head does not fit the stance encoder"
    return AbuseScorer(stance_encoder, head)


def _allowed(scorer: AbuseScorer, texts: list[str], policy: ModerationPolicy) -> list[str]:
    """The texts the model would send to review or remove under the policy."""
    scores = scorer.score(texts)
    return [t for t, s in zip(texts, scores, strict=True) if model_verdict(s, policy).reasons]


@pytest.mark.parametrize(
    "texts",
    [EMOTES_AND_ONE_WORD, QUOTES_AND_LINKS, TEASING_AND_GAME_TALK, PROFANITY_AT_NO_ONE],
    ids=["emotes-and-one-word", "quotes-and-links", "teasing-and-game-talk", "profanity"],
)
def test_everyday_chat_is_not_flagged_by_default(scorer, texts):
    assert _allowed(scorer, texts, ModerationPolicy()) == []


@pytest.mark.parametrize("texts", [PRO_PARTNERSHIP, CRITICAL], ids=["pro", "critical"])
def test_heated_opinion_on_either_side_passes_under_the_strict_preset_too(scorer, texts):
    assert _allowed(scorer, texts, ModerationPolicy().with_preset("strict")) == []


def test_replies_that_name_a_group_pass(scorer):
    assert _allowed(scorer, NAMING_A_GROUP, ModerationPolicy()) == []


@pytest.mark.xfail(
    strict=True,
    reason="known defect: a short statement of identity reads as hate to both heads "
    "(docs/model-card.md, Identity terms); this passes once it is fixed",
)
def test_a_short_statement_of_identity_passes(scorer):
    assert _allowed(scorer, ["I am muslim"], ModerationPolicy()) == []


def test_attacks_threats_and_hate_still_go_to_review(scorer):
    flagged = _allowed(scorer, ABUSE, ModerationPolicy())
    assert flagged == ABUSE


def test_presets_order_from_strict_to_loose_and_say_what_they_mean(scorer):
    texts = EMOTES_AND_ONE_WORD + TEASING_AND_GAME_TALK + ABUSE
    counts = {
        name: len(_allowed(scorer, texts, ModerationPolicy().with_preset(name))) for name in PRESETS
    }
    assert counts["strict"] >= counts["default"] >= counts["loose"]
    for name, preset in PRESETS.items():
        assert preset.words.lower().startswith(name) and len(preset.words) > 60


def test_a_preset_sets_every_review_point_keeps_removal_and_round_trips():
    policy = ModerationPolicy().with_threshold("threat", 0.6, 0.9).with_preset("loose")
    assert policy.preset == "loose"
    assert policy.threshold("insult").review == PRESETS["loose"].review
    assert policy.threshold("threat").remove == 0.9
    assert ModerationPolicy.from_json(policy.to_json()).preset == "loose"
    assert ModerationPolicy().preset == "default"
    assert ModerationPolicy().with_threshold("spam", 0.42, 1.01).preset is None
    with pytest.raises(PolicyError, match="unknown preset"):
        ModerationPolicy().with_preset("paranoid")


# --- the public datasets' mappings (written rows in each file's own layout) -----------------


def test_davidson_rows_map_hate_attacks_on_you_and_drop_undirected_profanity(tmp_path):
    path = tmp_path / "labeled_data.csv"
    path.write_text(
        ",count,hate_speech,offensive_language,neither,class,tweet\n"
        "0,3,3,0,0,0,those people are animals and do not belong here\n"
        "1,3,0,3,0,1,@kev shut up you dumb bitch\n"
        "2,3,0,3,0,1,this traffic is a bitch man\n"
        "3,3,0,0,3,2,RT @ann: &amp; the game starts at eight\n"
        "4,3,1,2,0,0,a tweet with no hate majority\n",
        encoding="utf-8",
    )
    rows = {r.id: r for r in read_davidson(path)}
    assert rows["0"].category == "hate"
    assert rows["1"].category == "insult"
    assert "2" not in rows and "4" not in rows  # profanity about nothing; no majority
    assert rows["3"].category == "civil" and rows["3"].text == "& the game starts at eight"


def test_olid_keeps_untargeted_profanity_civil_and_attacks_on_the_addressee(tmp_path):
    path = tmp_path / "olid.tsv"
    path.write_text(
        "id\ttweet\tsubtask_a\tsubtask_b\tsubtask_c\n"
        "1\t@USER the weather is lovely today\tNOT\tNULL\tNULL\n"
        "2\t@USER holy shit what a game\tOFF\tUNT\tNULL\n"
        "3\t@USER you are a lying clown\tOFF\tTIN\tIND\n"
        "4\t@USER the senator is a lying clown\tOFF\tTIN\tIND\n"
        "5\t@USER those voters are clowns\tOFF\tTIN\tGRP\n",
        encoding="utf-8",
    )
    got = {r.id: r.category for r in read_olid(path)}
    assert got == {"1": "civil", "2": "civil", "3": "insult"}


def _convabuse_row(n: int, user: str, *annotators: dict[str, str]) -> dict[str, str]:
    row = {
        "example_id": f"{n}.0",
        "conv_id": "c",
        "prev_agent": "",
        "prev_user": "",
        "agent": "Please go on.",
        "user": user,
        "bot": "E.L.I.Z.A.",
    }
    for k, votes in enumerate(annotators, start=1):
        for key in (
            "is_abuse.1",
            "is_abuse.0",
            "is_abuse.-1",
            "is_abuse.-2",
            "is_abuse.-3",
            "sex_harassment",
            "racist",
            "homophobic",
            "intellectual",
            "target.system",
            "target.individual",
            "target.generalised",
        ):
            row[f"Annotator{k}_{key}"] = votes.get(key, "0")
    return row


def test_convabuse_maps_abuse_at_the_bot_like_abuse_at_a_member(tmp_path):
    ok = {"is_abuse.1": "1"}
    at_bot = {"is_abuse.-2": "1", "target.system": "1"}
    rows = [
        _convabuse_row(0, "berlin", ok, ok, ok),
        _convabuse_row(1, "you are very stupid", at_bot | {"intellectual": "1"}, at_bot, ok),
        _convabuse_row(
            2,
            "send me a pic of you naked",
            at_bot | {"sex_harassment": "1"},
            at_bot | {"sex_harassment": "1"},
        ),
        _convabuse_row(
            3,
            "my father is a bastard",
            {"is_abuse.-1": "1", "target.individual": "1"},
            {"is_abuse.-1": "1"},
        ),
        _convabuse_row(4, "berlin!", at_bot, at_bot),  # civil elsewhere: abusive in context only
        _convabuse_row(5, "maybe", ok, at_bot),  # no majority
        _convabuse_row(6, "thanks", {"is_abuse.1": "1, 1"}, ok),  # a repeated annotation
    ]
    for split in ("train", "valid", "test"):
        path = tmp_path / f"ConvAbuseEMNLP{split}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows if split == "train" else [])
    got = {r.text: r.category for r in read_convabuse(tmp_path / "ConvAbuseEMNLPtrain.csv")}
    assert got == {
        "berlin": "civil",
        "you are very stupid": "insult",
        "send me a pic of you naked": "harassment",
        "thanks": "civil",
    }


def test_ethos_maps_violent_hate_to_threat_and_unhateful_comments_to_civil(tmp_path):
    (tmp_path / "Ethos_Dataset_Multi_Label.csv").write_text(
        "comment;violence;directed_vs_generalized;gender;race;national_origin;disability;"
        "religion;sexual_orientation\n"
        "kill them all, every one of them;0.8;0;0;1;0;0;0;0\n"
        "those people are vermin;0.2;0;0;1;0;0;0;0\n",
        encoding="utf-8",
    )
    (tmp_path / "Ethos_Dataset_Binary.csv").write_text(
        "comment;isHate\ngreat video, thanks;0.0\nborderline remark;0.3\n"
        "those people are vermin;1.0\n",
        encoding="utf-8",
    )
    got = {r.text: r.category for r in read_ethos(tmp_path / "Ethos_Dataset_Multi_Label.csv")}
    assert got == {
        "kill them all, every one of them": "threat",
        "those people are vermin": "hate",
        "great video, thanks": "civil",
    }


def test_youtube_spam_reads_every_video_file_and_keeps_link_addresses(tmp_path):
    (tmp_path / "Youtube01-Psy.csv").write_text(
        "COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\n"
        'a1,x,2014,"Check out my channel <a href=""http://example.com/x"">here</a>\ufeff",1\n'
        "a2,y,2014,I love this song &amp; the dance,0\n",
        encoding="utf-8",
    )
    (tmp_path / "Youtube02-KatyPerry.csv").write_text(
        "COMMENT_ID,AUTHOR,DATE,CONTENT,label\nb1,z,2014,subscribe to me pls,1\n",
        encoding="utf-8",
    )
    got = {r.id: (r.text, r.category) for r in read_youtube_spam(tmp_path / "Youtube01-Psy.csv")}
    assert got == {
        "a1": ("Check out my channel http://example.com/x", "spam"),
        "a2": ("I love this song & the dance", "civil"),
        "b1": ("subscribe to me pls", "spam"),
    }


def test_gab_hate_calls_for_violence_are_threats_and_vulgarity_alone_is_dropped(tmp_path):
    (tmp_path / "ghc_train.tsv").write_text(
        "text\thd\tcv\tvo\n"
        "they should all be shot\t1\t1\t0\n"
        "those people are subhuman\t1\t0\t0\n"
        "what a shitty day\t0\t0\t1\n"
        "the senate bill is a disaster\t0\t0\t0\n",
        encoding="utf-8",
    )
    (tmp_path / "ghc_test.tsv").write_text(
        "text\thd\tcv\tvo\nneeds the snot beat outta him\t0\t1\t0\n", encoding="utf-8"
    )
    got = {r.text: r.category for r in read_gab_hate(tmp_path / "ghc_train.tsv")}
    assert got == {
        "they should all be shot": "threat",
        "those people are subhuman": "hate",
        "the senate bill is a disaster": "civil",
        "needs the snot beat outta him": "threat",
    }


def test_the_split_is_by_a_hash_of_source_and_id_so_it_is_the_same_everywhere():
    rows = [PublicRow("olid", str(i), f"text {i}", "civil") for i in range(2000)]
    held = [r for r in rows if r.split() == "heldout"]
    assert 0.2 < len(held) / len(rows) < 0.3
    assert [r.split() for r in rows] == [
        PublicRow(r.source, r.id, "other", "insult").split() for r in rows
    ]


def test_chat_labels_name_messages_without_their_text(tmp_path):
    pool = tmp_path / "pool.jsonl"
    labels = tmp_path / "labels.jsonl"
    pool.write_text(
        json.dumps({"source": "s", "id": "1", "text": "see you at eight"}) + "\n", "utf-8"
    )
    labels.write_text(json.dumps({"source": "s", "id": "1", "label": "civil"}) + "\n", "utf-8")
    assert labelled_chat(labels, pool) == [
        {"text": "see you at eight", "category": "civil", "lean": "chat"}
    ]
    labels.write_text(json.dumps({"source": "s", "id": "2", "label": "civil"}) + "\n", "utf-8")
    with pytest.raises(ValueError, match="not in"):
        labelled_chat(labels, pool)
