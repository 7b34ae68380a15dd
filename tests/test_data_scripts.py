"""The public-data converters (scripts/data/, standard library only) on small repositories
shaped like their sources: the real data is public and never in this repository."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts" / "data"
# The converters read repository snapshots with git.
NEEDS_GIT = pytest.mark.skipif(
    subprocess.run(["git", "--version"], capture_output=True).returncode != 0, reason="no git"
)


def _convert(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run a converter as the data scripts are run: a file of its own, checked."""
    return subprocess.run(
        [sys.executable, str(SCRIPTS / script), *args], capture_output=True, text=True, check=True
    )


def _git_repo(path: Path, files: dict[str, str]) -> tuple[str, str]:
    """A repository holding `files` in one commit: (git dir, commit)."""
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text, encoding="utf-8")
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "data"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    return str(path / ".git"), commit


@NEEDS_GIT
def test_convert_notebandi_splits_by_id_and_names_what_it_skips(tmp_path):
    # The source's three files: tweets in blank-line-separated blocks, labels on alternate
    # lines (five of the real ids are in a spreadsheet's rounded form), tokens with a language tag.
    tweets = {
        str(796000000000000000 + i): f"notebandi {word} hai bahut accha kaam"
        for i, word in enumerate(["sahi", "galat", "theek", "bekaar", "zaroori", "mushkil"])
    }
    labels = ["FAVOR", "AGAINST", "NONE", "AGAINST", "FAVOR", "NONE"]
    text_file = "".join(f"{i}\n{t}\n\n" for i, t in tweets.items()) + "797000000000000001\n\n"
    stance_file = "".join(f"{i}\n{lab}\n" for i, lab in zip(tweets, labels, strict=True))
    stance_file += "8.08979E+17\nFAVOR\n797000000000000001\nFAVOR\n"
    language_file = "".join(
        f"{i}\nnotebandi\thi\n{t.split()[1]}\thi\nhai\thi\nbahut\thi\naccha\thi\nkaam\ten\n\n"
        for i, t in tweets.items()
    )
    repo = tmp_path / "repo"
    gitdir, commit = _git_repo(
        repo,
        {
            "Dataset/Notebandi_tweets.txt": text_file,
            "Dataset/Notebandi_tweets_stance.txt": stance_file,
            "Dataset/Notebandi_tweets_with_language.txt": language_file,
        },
    )
    out = tmp_path / "out"
    run = _convert("convert_notebandi.py", gitdir, commit, str(out))
    assert "'8.08979E+17': skipped (not a tweet id)" in run.stderr
    assert "tweet 797000000000000001: skipped (no text" in run.stderr
    rows = {
        split: [json.loads(line) for line in (out / f"notebandi.{split}.jsonl").open()]
        for split in ("dev", "test")
    }
    written = rows["dev"] + rows["test"]
    assert sorted(r["id"] for r in written) == sorted(tweets)
    by_id = {r["id"]: r for r in written}
    stance = {"FAVOR": "pro", "AGAINST": "con", "NONE": "neutral"}
    for (tweet_id, text), label in zip(tweets.items(), labels, strict=True):
        assert by_id[tweet_id]["text"] == text
        assert by_id[tweet_id]["stance"] == stance[label]
        assert by_id[tweet_id]["topic"] == "demonetisation"
        assert by_id[tweet_id]["hindi_share"] == pytest.approx(5 / 6, abs=1e-3)
    # The split is a function of the id alone: a second run in another order gives the same.
    again = tmp_path / "again"
    reordered = "".join(f"{i}\n{t}\n\n" for i, t in reversed(tweets.items()))
    (repo / "Dataset/Notebandi_tweets.txt").write_text(reordered, encoding="utf-8")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "commit", "-qam", "reorder"], check=True)
    _convert("convert_notebandi.py", gitdir, "HEAD", str(again))
    for split in ("dev", "test"):
        ids = {json.loads(line)["id"] for line in (again / f"notebandi.{split}.jsonl").open()}
        assert ids == {r["id"] for r in rows[split]}


@NEEDS_GIT
def test_convert_hinglish_mt_keeps_typed_hinglish_and_counts_what_it_leaves(tmp_path):
    pairs = [
        "Not very popular it seems\tlagta hai bahut popular nahi hai",
        "Yes\tyes",  # the same words: nothing Hindi to learn
        "I liked the feminist angle\tmujhe feminist angle pasand aaya",  # a reserved target
        "no tab on this line",
        "Not very popular it seems\tlagta hai bahut popular nahi hai",  # a repeat
        "I've never seen it\tmaine to kabhi nahi dekha hai.",
    ]
    gitdir, commit = _git_repo(tmp_path / "repo", {"mt_enghinglish/train.txt": "\n".join(pairs)})
    out = tmp_path / "out"
    run = _convert("convert_hinglish_mt.py", gitdir, commit, str(out))
    assert "2 pairs (1 left out as the same words in both, 1 without two sides, 1 naming" in (
        run.stdout
    )
    rows = [json.loads(line) for line in (out / "hinglish_eng.jsonl").open()]
    assert [(r["text"], r["translation"]) for r in rows] == [
        ("lagta hai bahut popular nahi hai", "Not very popular it seems"),
        ("maine to kabhi nahi dekha hai.", "I've never seen it"),
    ]
    # The English side, once each, as chat beside the output folder (civil chat to "you").
    chat = [json.loads(line) for line in (tmp_path / "chat" / "film_chat.jsonl").open()]
    assert [(r["id"], r["text"]) for r in chat] == [
        ("1", "Not very popular it seems"),
        ("6", "I've never seen it"),
    ]


@NEEDS_GIT
def test_convert_topical_chat_writes_training_and_evaluation_splits_apart(tmp_path):
    def split(*messages: str) -> str:
        content = [{"agent": f"agent_{i % 2 + 1}", "message": m} for i, m in enumerate(messages)]
        return json.dumps({"t_1": {"content": content, "config": "A"}})

    files = {
        "conversations/valid_freq.json": split("Are you a football fan?", "yes,  I'm a fan", "k"),
        "conversations/valid_rare.json": split(
            "Did you vote for Trump?", "Are you a football fan?"
        ),
        "conversations/test_freq.json": split("I love jazz"),
        "conversations/test_rare.json": split("Me too"),
    }
    gitdir, commit = _git_repo(tmp_path / "repo", files)
    out = tmp_path / "out"
    run = _convert("convert_topical_chat.py", gitdir, commit, str(out))
    assert "topical_chat.jsonl: 2 turns from valid_freq, valid_rare (1 naming" in run.stdout
    train = [json.loads(line) for line in (out / "topical_chat.jsonl").open()]
    # Spaces folded, one-character turns, a reserved target and a repeat left out.
    assert [(r["id"], r["text"]) for r in train] == [
        ("valid_freq:t_1:0", "Are you a football fan?"),
        ("valid_freq:t_1:1", "yes, I'm a fan"),
    ]
    held = [json.loads(line)["text"] for line in (out / "topical_chat_eval.jsonl").open()]
    assert held == ["I love jazz", "Me too"]


@NEEDS_GIT
def test_convert_hindi_wiki_halves_share_no_sentence(tmp_path):
    import gzip

    sentences = [f"गाँव संख्या {i} के पास ही एक छोटी नदी बहती है।" for i in range(60)]
    sentences += ["short", "Only English letters in this sentence, none of them Hindi."]
    sentences += [sentences[0]]  # the same sentence on another line
    repo = tmp_path / "repo"
    path = repo / "hi/native_script_wikipedia/hi.wiki-filt.valid.text.shuf.txt.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress("\n".join(sentences).encode("utf-8")))
    gitdir, commit = _git_repo(repo, {})
    out = tmp_path / "out"
    _convert("convert_hindi_wiki.py", gitdir, commit, str(out))
    halves = {
        h: [json.loads(line) for line in (out / f"wiki_{h}.jsonl").open(encoding="utf-8")]
        for h in ("train", "eval")
    }
    texts = {h: {r["text"] for r in rows} for h, rows in halves.items()}
    assert not texts["train"] & texts["eval"]
    assert texts["train"] | texts["eval"] == set(sentences[:60])  # too short or not Hindi: out
    assert {r["id"] for r in halves["train"]}.isdisjoint(r["id"] for r in halves["eval"])


@NEEDS_GIT
def test_convert_bias_madlibs_names_each_civil_sentences_identity_term(tmp_path):
    en = (
        "template,toxicity,phrase\n"
        "being_adj,nontoxic,Being african american is wonderful\n"
        "being_adj,toxic,Being african is horrible\n"
        "you_occupation,toxic,You are a dumb programmer\n"
        "am_hate_adj,nontoxic,I am older\n"
        "verb_adj,unsure,hug gay\n"  # neither label: left out
        "verb_adj,nontoxic,\n"
    )
    en += "".join(f"name_adj,nontoxic,Name{i} is a nice gay\n" for i in range(80))
    hinglish = "template,toxicity,phrase\ni_am_identity,nontoxic,ma kala hu\n"
    files = {
        "sentence_templates/en_sentence_templates.csv": en,
        "sentence_templates/hi-Latn_sentence_templates.csv": hinglish,
        "archive/unintended_ml_bias/bias_madlibs_data/adjectives_people.txt": (
            "gay\nafrican\nafrican american\nold\nolder\n"
        ),
    }
    gitdir, commit = _git_repo(tmp_path / "repo", files)
    out = tmp_path / "out"
    _convert("convert_bias_madlibs.py", gitdir, commit, str(out))
    rows = [json.loads(line) for line in (out / "bias_madlibs.en.jsonl").open(encoding="utf-8")]
    assert [(r["id"], r["category"], r["lean"]) for r in rows[:4]] == [
        ("en:2", "civil", "african american"),  # the longest term, not "african"
        ("en:3", "hate", "african"),
        ("en:4", "insult", "you_occupation"),
        ("en:5", "civil", "older"),
    ]
    sampled = [r for r in rows if r["template"] == "name_adj"]
    assert 0 < len(sampled) < 80 / 4 and {r["lean"] for r in sampled} == {"gay"}
    (hi,) = [json.loads(line) for line in (out / "bias_madlibs.hi-Latn.jsonl").open()]
    assert (hi["text"], hi["category"], hi["lean"]) == (
        "ma kala hu",
        "civil",
        "hinglish i_am_identity",
    )


@NEEDS_GIT
def test_convert_nps_chat_keeps_posts_and_masks_users_as_mentions(tmp_path):
    import io
    import zipfile

    xml = (
        '<Session><Posts><Post class="Greet" user="10-19-20sUser7">hi 10-19-20sUser59</Post>'
        '<Post class="System" user="10-19-20sUser7">JOIN</Post>'
        '<Post class="Statement" user="10-19-20sUser59">hello10-19-20sUser7s :)</Post>'
        '<Post class="Emotion" user="10-19-20sUser3">   </Post></Posts></Session>'
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("nps_chat/10-19-20s_706posts.xml", xml)
        z.writestr("nps_chat/README.txt", "research use only")
    repo = tmp_path / "repo"
    (repo / "packages/corpora").mkdir(parents=True)
    (repo / "packages/corpora/nps_chat.zip").write_bytes(buf.getvalue())
    gitdir, commit = _git_repo(repo, {})
    out = tmp_path / "out"
    _convert("convert_nps_chat.py", gitdir, commit, str(out))
    rows = [json.loads(line) for line in (out / "nps_chat.jsonl").open(encoding="utf-8")]
    # System lines and empty posts are left out; ids keep the post's place in its recording.
    assert [(r["id"], r["text"], r["room"]) for r in rows] == [
        ("10-19-20s:0", "hi @User59", "20s"),
        ("10-19-20s:2", "hello@User7s :)", "20s"),
    ]


def test_the_converters_reserve_the_targets_training_excludes():
    """The data converters (stdlib only) and the training's exclusion hold SemEval's targets in
    two places: the same pattern, so neither can drift into training on a reserved target."""
    import importlib.util
    import re

    from bot.stance.training import EXCLUDED_TOPICS, RESERVED_TARGETS

    spec = importlib.util.spec_from_file_location("snapshot", SCRIPTS / "snapshot.py")
    snapshot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(snapshot)
    assert snapshot.RESERVED.pattern == RESERVED_TARGETS
    assert snapshot.RESERVED.flags & re.IGNORECASE
    for target in (
        "Donald Trump",
        "Hillary Clinton",
        "Feminist Movement",
        "Legalization of Abortion",
        "prolife",
        "Atheism",
        "Climate Change is a Real Concern",
    ):
        assert snapshot.RESERVED.search(target) and EXCLUDED_TOPICS.search(target), target


GUIDE_LABELS = {"civil", "insult", "harassment", "threat", "hate", "spam"}


@pytest.mark.parametrize(
    "name,id_pattern,labels,least",
    [
        # Tweets (their terms forbid redistribution): a tweet id; unclear ones stay, as read.
        ("hinglish_tweets_audit.jsonl", r"\d+", GUIDE_LABELS | {"ambiguous", "unclear"}, 1),
        ("hinglish_tweets_allowed_sample.jsonl", r"\d+", GUIDE_LABELS | {"unclear"}, 400),
        # Chat-room posts (research use only): recording and number; unclear ones left out.
        ("nps_chat_labels.jsonl", r"\d\d-\d\d-(teens|adults|\d\ds):\d+", GUIDE_LABELS, 1001),
    ],
)
def test_committed_hand_labels_hold_ids_and_labels_only(name, id_pattern, labels, least):
    """Other people's text is never committed: the hand labels name a message by its id and
    give a label of the guide."""
    import re

    path = Path(__file__).resolve().parent.parent / "seeds" / "moderation" / name
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= least and all(r["label"] in labels for r in rows)
    assert all(re.fullmatch(id_pattern, r["id"]) for r in rows)
    assert not any("text" in r for r in rows) and len({r["id"] for r in rows}) == len(rows)
