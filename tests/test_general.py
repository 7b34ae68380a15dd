"""The general stance model: new questions read from their files alone, chatter set apart,
Hindi in both scripts, the first article's figures, and the many-question `eval`."""

import json
import subprocess
import sys

import numpy as np
import pytest

from bot.__main__ import main
from bot.config import PROJECT_ROOT
from bot.content import ContentLibrary
from bot.core.models import reading_of
from bot.stance.classifier import SHIPPED_HEADS, PrototypeHead, StanceClassifier
from bot.stance.general import (
    CALIBRATION_FILE,
    Calibration,
    LabelSpace,
    Translation,
    fit_calibration,
    prototypes,
    read_parallel,
)
from bot.stance.text import for_encoder, tag_words
from bot.stance.training import (
    GeneralArgs,
    TrainingArgs,
    _general_plan,
    _translation_batches,
    calibration_split,
    public_examples,
    train_general_model,
    train_models,
    translation_loss,
)

from .conftest import save_tiny_model

ARTICLE = """
id = "skatepark"
title = "Council votes on a skate park in Riverside Gardens"
source = "Written for stancebot's tests"
date = 2026-11-30
body = "The council will decide next week whether to build a skate park in Riverside Gardens."
"""

QUESTIONS = """
article = "skatepark"

[[questions]]
id = "skatepark"
text = "Should the council build a skate park in Riverside Gardens?"

[[questions.labels]]
name = "build_it"
meaning = "For the skate park: build it."
hypotheses = [
    "Build the skate park, the kids need somewhere to go.",
    "A skate park would be great for the town.",
]

[[questions.labels]]
name = "dont_build"
meaning = "Against the skate park: don't build it."
hypotheses = [
    "A skate park will ruin the gardens.",
    "Don't build it, it's noisy and a waste of money.",
]

[[questions.labels]]
name = "neutral"
meaning = "About the skate park but takes no side: a question, a fact, mixed or undecided."
hypotheses = ["When does the council vote?", "Not sure either way."]

[[questions.labels]]
name = "off_topic"
meaning = "Not about the skate park at all."
hypotheses = ["good morning everyone", "anyone up for a game tonight?"]
"""


@pytest.fixture
def new_question(tmp_path):
    seeds, prompts = tmp_path / "my-seeds", tmp_path / "my-prompts"
    seeds.mkdir()
    prompts.mkdir()
    (seeds / "skatepark.article.toml").write_text(ARTICLE)
    (prompts / "skatepark.toml").write_text(QUESTIONS)
    return seeds, prompts


def test_discord_markdown_is_read_as_it_renders():
    """A masked link reads as its text, and bold, underline, strikethrough and spoiler marks
    as nothing; a bare link, a bracket that is not a link and snake_case stay as they are."""
    text = "Genuine **partnership** built on respect: [Read it](https://evil.example/x) __here__"
    assert for_encoder(text) == "Genuine partnership built on respect: Read it here"
    assert for_encoder("a ||spoiler|| and ~~that~~") == "a spoiler and that"
    for same in ("https://tenor.com/view/cat-dance", "[x](not a link)", "snake_case_name"):
        assert for_encoder(same) == same


def test_hashtags_and_handles_of_several_words_are_read_as_their_words():
    """A pasted tweet's "#WearAMask" or "@JoeBiden" reads as its words; a one-word tag ("#general",
    "@Sam", "@everyone": Discord chatter), Discord's own mentions, HTML entities and tags inside
    words or links stay as typed."""
    assert for_encoder("Do it. #WearAMask #stay_home") == "Do it. Wear A Mask stay home"
    assert for_encoder("@JoeBiden is right on #COVID19") == "Joe Biden is right on COVID 19"
    assert for_encoder("#OPENAMERICANOW now") == "#OPENAMERICANOW now"  # no case to split on
    assert tag_words("#MeraBharatमहान") == "#MeraBharatमहान"  # not "Mera Bharat" and a lost word
    for same in (
        "sorry, meant to post this in #general",
        "happy birthday @Sam!!",
        "who keeps pinging @everyone",
        "<@123456> see <#987654>",
        "it&#39;s fine",
        "C# and me@host.example",
        "https://example.com/#TopOfPage",
        "https://x.com/search?q=#WearAMask&f=live&via=@JoeBiden",
        "`@lru_cache` and ```\n@functools.lru_cache\n```",
        "#CaféNoir @José_García",  # letters the splitter does not know: kept whole
        "# Heading",
    ):
        assert for_encoder(same) == same


def test_a_pasted_tweets_hashtags_carry_its_side(classifier):
    # The tags are the whole argument: read as their words, they are a side (read as typed, the
    # first was gamesmanship at 0.46 and the second off topic at 0.74).
    texts = ["#RealPartnership #TrustedAllies", "#PoliticalTheatre #PhotoOp"]
    preds = classifier.predict("partnership", texts)
    assert [p.label for p in preds] == ["partnership", "gamesmanship"], preds


def test_a_masked_link_does_not_make_a_reply_chatter(classifier):
    text = "Genuine **partnership** built on respect: [Read it](https://evil.example/x) __here__"
    (pred,) = classifier.predict("partnership", [text])
    assert pred.label == "partnership" and not pred.low_confidence, pred


def test_hindi_words_are_read_as_their_english_gloss():
    """A Devanagari word the glossary knows reads as its gloss, in any of its spellings; a
    function word, or a word the glossary lacks, as Hinglish spells it."""
    assert for_encoder("यह फैसला बिल्कुल गलत है") == "yah decision quite wrong hai"
    assert for_encoder("सच्ची दोस्ती नहीं, सिर्फ दिखावा।") == "true friendship no, only ostentation."
    assert for_encoder("partnership वर्तमान में") == "partnership current men"
    assert for_encoder("फ़ायदा") == for_encoder("फायदा") == "benefit"  # with and without nukta
    assert for_encoder("प्रियंका") == "priynka"  # a name: transliterated


def test_names_in_the_news_are_read_as_names_in_either_script():
    """The glossaries read some names as words ("मोदी" as "grocer", "शाह" as "king", "amit" as
    "inerasable") and the transliteration "ट्रम्प" as "tramp": they read as the names."""
    assert for_encoder("ट्रम्प और मोदी दोस्त हैं") == "trump aur modi friend hain"
    assert for_encoder("अमित शाह") == "amit shah"
    assert for_encoder("ट्रंप") == "trump"  # not Wiktionary's "transliteration of the english …"
    # other spellings of the same names: chandrabindu, halant
    assert for_encoder("राहुल गाँधी") == "rahul gandhi"
    assert for_encoder("नरेन्द्र मोदी") == "narendra modi"
    assert for_encoder("Modi ji ka dikhava hai") == "Modi ji ka ostentation hai"
    assert for_encoder("amit shah bhi wahan tha").startswith("amit shah ")


def test_hinglish_words_are_read_as_their_english_gloss_and_english_stays():
    assert for_encoder("Rishta asli hai, dikhava nahi") == "relationship real hai, ostentation no"
    assert for_encoder("yah sajhedari asli hai") == for_encoder("यह साझेदारी असली है")
    # a link, a mention or an emote reads as itself
    assert for_encoder("https://x.com/rishta :rishta: <:rishta:1> <@2>") == (
        "https://x.com/rishta :rishta: <:rishta:1> <@2>"
    )
    for text in (
        "plain English stays",
        "the rain in Spain",  # "the", "rain" also spell Hindi words (थे, रैन)
        "log in with your bus pass",
        "snake_case_name",
        "emoji 😂 too",
        "",
    ):
        assert for_encoder(text) == text


def test_a_missing_glossary_is_one_clear_error(tmp_path):
    from bot.errors import StancebotError
    from bot.stance.text import _glossary

    with pytest.raises(
        StancebotError, match=r"none\.tsv: a Hindi glossary cannot be read .*reinstall"
    ):
        _glossary(tmp_path / "none.tsv")


def test_the_encoder_reads_hindi_in_either_script_as_its_english_meaning(encoder):
    devanagari, latin, english, other = encoder.encode(
        [
            "यह साझेदारी असली है",
            "yah sajhedari asli hai",
            "yah partnership real hai",
            "yah sajhedari asli nahin hai",
        ]
    )
    assert float(devanagari @ latin) > 0.999  # the same input ids
    assert float(devanagari @ english) > 0.999
    assert float(devanagari @ other) < 0.99


def test_a_new_question_is_read_zero_shot_from_its_files_alone(new_question, tmp_path):
    """A question defined only in files under STANCEBOT_SEEDS_DIR / STANCEBOT_PROMPTS_DIR is
    classified by `stancebot classify --question ID` with no other step."""
    seeds, prompts = new_question
    replies = [
        (1, "Yes please, build it! My kids have nowhere to skate."),
        (2, "No way, the gardens are the only quiet green space we have left."),
        (3, "When is the council meeting about it?"),
        (4, "gg everyone, that raid was wild last night"),
    ]
    stdin = "\n".join(json.dumps({"id": i, "text": t}) for i, t in replies)
    env = {
        "STANCEBOT_SEEDS_DIR": str(seeds),
        "STANCEBOT_PROMPTS_DIR": str(prompts),
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
    }
    out = subprocess.run(
        [sys.executable, "-m", "bot", "classify", "--question", "skatepark"],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in rows] == [1, 2, 3, 4]
    assert {r["reading"] for r in rows} == {"zero-shot"}
    assert [r["label"] for r in rows] == ["build_it", "dont_build", "neutral", "off_topic"]
    for r in rows:
        assert set(r["scores"]) == {"build_it", "dont_build", "neutral", "off_topic"}


def test_the_shipped_general_model_is_calibrated_for_this_encoder(classifier, new_question):
    seeds, prompts = new_question
    library = ContentLibrary.load(seeds, prompts)
    clf = StanceClassifier(classifier.encoder, library.questions, heads_dir=SHIPPED_HEADS)
    head = clf.head("skatepark")
    assert isinstance(head, PrototypeHead) and head.bias is not None
    assert head.version.startswith("general-") and reading_of(head.version) == "zero-shot"
    cal = Calibration.load(SHIPPED_HEADS / CALIBRATION_FILE)
    assert cal.encoder == classifier.encoder.fingerprint
    assert cal.meta["replies"] >= 500  # fitted on whole questions the adapter never saw


def test_the_shipped_heads_are_the_recipes_and_read_hindi_about_other_things_as_off_topic(
    classifier, library
):
    """The first article's shipped heads were fitted on the shipped adapter with the recipe's
    --head-chat sample (HEAD_CHAT_LIMIT Hindi Wikipedia sentences as off_topic; the docs'
    command) and read a Hindi sentence about something else as off topic, not a side."""
    from bot.stance.classifier import LinearHead
    from bot.stance.training import HEAD_CHAT_LIMIT

    for qid in ("partnership", "oil-claims"):
        head = LinearHead.load(SHIPPED_HEADS / f"{qid}.safetensors")
        assert head.encoder_fingerprint == classifier.encoder.fingerprint
        assert head.meta["extra"]["chatter"] == HEAD_CHAT_LIMIT == 100
    clf = StanceClassifier(classifier.encoder, library.questions, heads_dir=SHIPPED_HEADS)
    # Written here, in the manner of the Wikipedia sentences: a village, a temple's age. The
    # heads before read the temple as `neutral` for oil-claims (0.49), so into the shares.
    hindi = [
        "गाँव के पास ही एक ढाणी है और पास में एक तालाब भी है",
        "मंदिर का निर्माण सत्रहवीं शताब्दी में हुआ था",
    ]
    for qid in ("partnership", "oil-claims"):
        assert [p.label for p in clf.predict(qid, hindi)] == ["off_topic", "off_topic"]


@pytest.mark.xfail(
    strict=True,
    reason="known defect: Hindi about a film still reads as a side to the first article's heads "
    "(a third of Hindi Wikipedia's sentences do; docs/stance-model.md, Chatter on a new "
    "question); this passes once it is fixed",
)
def test_hindi_about_a_film_is_not_a_side(classifier, library):
    clf = StanceClassifier(classifier.encoder, library.questions, heads_dir=SHIPPED_HEADS)
    text = "यह फ़िल्म 1975 में रिलीज़ हुई थी और इसका संगीत आर. डी. बर्मन ने दिया था"
    for qid in ("partnership", "oil-claims"):
        pred = clf.predict(qid, [text])[0]
        assert pred.label in ("neutral", "off_topic") or pred.low_confidence


CHATTER = [
    "LMAO",
    "gm gm",
    ":sob:",
    "<:kekw:812345678901234567>",
    "and Priya",
    "brb pizza",
    "who's on tonight for ranked?",
    "the trains here are always late and nobody cares",
    "https://tenor.com/view/cat-dance-gif-123456",
    "happy birthday Sam!! 🎉",
]


def test_everyday_chatter_is_never_read_as_a_side(classifier):
    """ "and Priya" was a known failure of the adapter before this one (gamesmanship at 0.56)."""
    for question in ("partnership", "oil-claims"):
        sides = classifier.questions[question].label_names[:2]
        for p, text in zip(classifier.predict(question, CHATTER), CHATTER, strict=True):
            assert p.label not in sides or p.low_confidence, (question, text, p)


HINDI = [
    ("भारत और अमेरिका की यह साझेदारी सच्ची है, दोनों देशों के हित एक हैं", "partnership"),
    ("ये सब दिखावा है, सिर्फ राजनीति और बैकरूम डील", "gamesmanship"),
    ("yeh partnership asli hai, dono desh ek doosre ki izzat karte hain", "partnership"),
    ("sab dikhawa hai bhai, tariff laga ke dosti ki baatein", "gamesmanship"),
]
# Harder: the side is in a negation ("real friendship? nothing of the sort"). Devanagari is the
# model's weakest script (README, The stance model): it may be unsure, never confidently wrong.
HINDI_HARD = [("यह सब राजनीति का दिखावा है, असली दोस्ती कुछ नहीं", "gamesmanship")]


def test_devanagari_and_hinglish_replies(classifier):
    preds = classifier.predict("partnership", [t for t, _ in HINDI])
    assert [p.label for p in preds] == [lb for _, lb in HINDI]


def test_a_devanagari_negation_is_unsure_or_right(classifier):
    """A known failure of the adapters before this one (partnership at 0.47, then 0.78)."""
    for p, (_, gold) in zip(
        classifier.predict("partnership", [t for t, _ in HINDI_HARD]), HINDI_HARD, strict=True
    ):
        assert p.label == gold or p.low_confidence, p


@pytest.mark.parametrize(("question", "floor"), [("partnership", 0.90), ("oil-claims", 0.87)])
def test_the_first_article_does_not_regress(capsys, question, floor):
    """The shipped model on the independent set, through `stancebot eval` as a user runs it."""
    path = PROJECT_ROOT / "seeds" / "eval" / f"{question}.jsonl"
    assert main(["eval", "--question", question, str(path), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["reading"] == "trained" and report["n"] == 200
    assert report["macro_f1"] >= floor


def test_eval_scores_a_folder_of_questions(tmp_path, capsys):
    folder = tmp_path / "gold"
    folder.mkdir()
    rows = {
        "partnership.small.jsonl": [
            ("A genuine partnership between two democracies.", "partnership"),
            ("Pure theatre and backroom deals.", "gamesmanship"),
            ("When was the defence framework signed?", "neutral"),
            ("anyone watching the cricket?", "off_topic"),
        ],
        "oil-claims.jsonl": [
            ("India is still buying plenty of Russian crude; the claims are spin.", "overstated"),
            ("The refiners really did cut Russian oil after the sanctions.", "accurate"),
        ],
        "no-such-question.jsonl": [("hello", "x")],
    }
    for name, items in rows.items():
        (folder / name).write_text(
            "\n".join(json.dumps({"text": t, "label": lb}) for t, lb in items)
        )
    assert main(["eval", "--dir", str(folder)]) == 0
    captured = capsys.readouterr()
    assert "no-such-question.jsonl: skipped" in captured.err
    assert "partnership.small" in captured.out and "oil-claims" in captured.out
    assert "2 questions, 6 replies: mean macro-F1" in captured.out
    assert main(["eval", "--dir", str(folder), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [q["question"] for q in data["questions"]] == ["oil-claims", "partnership"]
    f1s = [q["macro_f1"] for q in data["questions"]]
    assert data["mean_macro_f1"] == pytest.approx(np.mean(f1s), abs=1e-4)
    assert data["worst_macro_f1"] == pytest.approx(min(f1s), abs=1e-4)
    # Calibration over the folder: the pooled ECE and, beside each, what a perfectly calibrated
    # model would show on as few replies.
    assert 0.0 <= data["pooled_ece"] <= 1.0 and data["mean_ece_if_calibrated"] > 0.0
    assert data["pooled_ece_if_calibrated"] > 0.0
    assert main(["eval", "--dir", str(folder)]) == 0
    assert "All replies pooled: ECE" in capsys.readouterr().out
    assert main(["eval", "--dir", str(tmp_path / "missing")]) != 0


def test_calibration_recovers_the_scale_and_biases_that_generated_the_labels():
    rng = np.random.default_rng(0)
    names = ("yes", "no", "neutral", "off_topic")
    items = []
    for _ in range(5):  # five unseen questions
        protos = rng.normal(size=(4, 16))
        protos /= np.linalg.norm(protos, axis=1, keepdims=True)
        emb = rng.normal(size=(400, 16))
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        z = 12.0 * emb @ protos.T + np.array([0.0, 0.0, -1.0, 0.5])
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        y = np.array([rng.choice(4, p=row) for row in p])
        items.append((emb.astype(np.float32), protos.astype(np.float32), names, y))
    cal = fit_calibration(items, encoder="abc")
    assert cal.encoder == "abc" and cal.meta["replies"] == 2000
    assert cal.scale == pytest.approx(12.0, abs=1.5)
    assert cal.bias["neutral"] == pytest.approx(-1.0, abs=0.3)
    assert cal.bias["off_topic"] == pytest.approx(0.5, abs=0.3)


def test_calibration_topics_are_whole_articles(library):
    q = library.question("partnership")
    topics = [(q, [], []), (library.question("oil-claims"), [], [])]
    learn, calib = calibration_split(topics, every=1)
    assert learn == [] and len(calib) == 2  # both questions share one article: both kept out


def test_general_training_end_to_end_on_a_tiny_model(tmp_path, library):
    """Adapter (label-description training across questions), heads and calibration, on a tiny
    model: the files exist and the classifier reads a question without a head through the
    calibrated general scorer."""
    from transformers import BertModel

    model = save_tiny_model(tmp_path / "tiny", BertModel)
    topics = tmp_path / "topics"
    for sub in ("articles", "prompts", "labelled"):
        (topics / sub).mkdir(parents=True)
    texts = {
        "build_it": ["build it please", "yes a skate park", "great idea, build"],
        "dont_build": ["no skate park", "don't build it", "waste of money"],
        "neutral": ["when is the vote?", "not sure", "what will it cost?"],
        "off_topic": ["gm", "lol", "anyone gaming?"],
    }
    for n in range(4):  # four articles: one is kept out to calibrate
        aid = f"town{n}"
        (topics / "articles" / f"{aid}.article.toml").write_text(
            ARTICLE.replace('id = "skatepark"', f'id = "{aid}"')
        )
        (topics / "prompts" / f"{aid}.toml").write_text(
            QUESTIONS.replace('article = "skatepark"', f'article = "{aid}"').replace(
                'id = "skatepark"', f'id = "{aid}-park"'
            )
        )
        (topics / "labelled" / f"{aid}-park.jsonl").write_text(
            "\n".join(json.dumps({"text": t, "label": lb}) for lb, ts in texts.items() for t in ts)
        )
    public = tmp_path / "public.jsonl"
    public.write_text(
        "\n".join(
            json.dumps({"topic": topic, "text": f"{word} {topic}", "stance": stance})
            for topic in ("bike lanes", "late trains", "school meals")
            for word, stance in (("love", "pro"), ("hate", "con"), ("meh", "neutral"))
        )
    )
    parallel = tmp_path / "hin_eng.jsonl"
    parallel.write_text(
        "\n".join(
            json.dumps({"text": hi, "romanized": roman, "translation": en}, ensure_ascii=False)
            for hi, roman, en in (
                ("स्केट पार्क बनाओ", "skate park banao", "build the skate park"),
                ("पैसे की बर्बादी", "paise ki barbadi", "a waste of money"),
                ("वोट कब है?", "vote kab hai?", "when is the vote?"),
            )
        )
    )
    # A second file of pairs, Hinglish as members type it (no Devanagari copy): both are read.
    hinglish = tmp_path / "hinglish_eng.jsonl"
    hinglish.write_text(
        json.dumps(
            {"text": "park toh banna chahiye yaar", "translation": "the park should be built"}
        )
    )
    # Off-topic chat from two files (`train --chat`): both are read.
    chat = tmp_path / "chat.jsonl"
    chat.write_text("\n".join(json.dumps({"text": t}) for t in ("brb", "lol same", "gg")))
    hindi = tmp_path / "wiki.jsonl"
    hindi.write_text(json.dumps({"text": "गाँव के पास ही एक ढाणी है।"}, ensure_ascii=False))
    labelled = tmp_path / "none"
    labelled.mkdir()
    out = tmp_path / "model"
    encoder, reports, summary = train_general_model(
        str(model),
        [library.question("partnership")],
        labelled,
        topics,
        out,
        public=[public],
        chatter=[chat, hindi],
        parallel=[parallel, hinglish],
        args=GeneralArgs(epochs=1, batch=6, public_batch=4, parallel_batch=4),
    )
    from bot.stance import adapter

    meta = adapter.load(out / "adapter.safetensors")[3]
    assert meta["translation_pairs"] == 7 and meta["chatter"] == 4
    assert reports == []  # no labelled replies for partnership here: no head
    assert summary.calibration_questions == ["town3-park"] and summary.public == 9
    assert (out / "adapter.safetensors").is_file() and (out / CALIBRATION_FILE).is_file()
    cal = Calibration.load(out / CALIBRATION_FILE)
    assert cal.encoder == encoder.fingerprint and "+" in encoder.fingerprint
    lib = ContentLibrary.load(topics / "articles", topics / "prompts")
    clf = StanceClassifier(encoder, lib.questions, heads_dir=out)
    (pred,) = clf.predict("town0-park", ["build it please"])
    assert pred.model_version.startswith("general-") and abs(sum(pred.scores.values()) - 1) < 1e-3
    space = LabelSpace.of(lib.question("town0-park"))
    assert prototypes(space, encoder).shape == (4, encoder.dim)
    # `train --heads-only` keeps the adapter and refits the calibration with the heads, on the
    # same calibration questions: the text the encoder reads may have changed since.
    Calibration(scale=1.0, encoder=cal.encoder).save(out / CALIBRATION_FILE)
    (labelled / "town0-park.train.jsonl").write_text(
        (topics / "labelled" / "town0-park.jsonl").read_text()
    )
    adapter_bytes = (out / "adapter.safetensors").read_bytes()
    _, (report,) = train_models(
        str(model),
        [lib.question("town0-park")],
        labelled,
        out,
        with_adapter=False,
        topics_dir=topics,
        args=TrainingArgs(folds=3),
    )
    assert Calibration.load(out / CALIBRATION_FILE) == cal
    assert (out / "adapter.safetensors").read_bytes() == adapter_bytes
    assert (out / f"{report.question_id}.safetensors").is_file()


def test_train_names_missing_public_data(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "m"), "--public", str(tmp_path / "nope")]) != 0
    err = capsys.readouterr().err
    assert "vast/train.jsonl: not found" in err and "scripts/data/run_all.sh" in err
    assert not (tmp_path / "m").exists()
    assert main(["train", "--out", str(tmp_path / "m"), "--parallel", str(tmp_path / "no")]) != 0
    err = capsys.readouterr().err
    assert "no: not found" in err and "scripts/data/run_all.sh" in err
    assert main(["train", "--out", str(tmp_path / "m"), "--chat", str(tmp_path / "nochat")]) != 0
    err = capsys.readouterr().err
    assert "nochat: not found" in err and "without that --chat" in err
    assert not (tmp_path / "m").exists()


def test_train_public_limit_reaches_the_recipe_and_bad_values_get_one_line(
    tmp_path, monkeypatch, capsys
):
    """`--public-limit FILE=N` changes that file's limit and keeps the recipe's others; a value
    that is not FILE=N of a known file, or comes without --public, is refused in one line."""
    import bot.stance.training as training

    public = tmp_path / "public"
    for name in (*training.PUBLIC_STANCE, training.PUBLIC_CHAT):
        (public / name).parent.mkdir(parents=True, exist_ok=True)
        (public / name).write_text("")

    class Reached(Exception):
        pass

    seen = []

    def fake_train(*_args, args, **_kwargs):
        seen.append(args)
        raise Reached

    monkeypatch.setattr(training, "train_general_model", fake_train)
    command = ["train", "--out", str(tmp_path / "m"), "--public", str(public)]
    with pytest.raises(Reached):
        main([*command, "--public-limit", "ibm_argq30k.jsonl=30000"])
    assert dict(seen[-1].public_limits) == {"train.jsonl": 5000, "ibm_argq30k.jsonl": 30000}
    with pytest.raises(Reached):
        main([*command, "--public-limit", "train.jsonl=20000"])
    assert seen[-1].public_limits == (("train.jsonl", 20000),)
    with pytest.raises(Reached):
        main(command)
    assert seen[-1].public_limits == GeneralArgs().public_limits
    capsys.readouterr()
    for bad in ("train.jsonl", "nope.jsonl=3", "train.jsonl=0", "train.jsonl=many"):
        assert main([*command, "--public-limit", bad]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"--public-limit {bad}: give FILE=N" in err
    assert main(["train", "--out", str(tmp_path / "m"), "--public-limit", "train.jsonl=9"]) == 2
    assert "add --public DIR" in capsys.readouterr().err
    assert len(seen) == 3 and not (tmp_path / "m").exists()


def test_translation_pairs_are_read_with_their_romanised_copies(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [
        {"text": "मुझे नहीं पता।", "romanized": "mujhe nahi pata.", "translation": "I don't know."},
        {"text": "वाह!", "romanized": "वाह!", "translation": "Wow!"},  # no copy of its own
        {"text": "हम जीते।", "translation": ""},  # no translation: skipped
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    assert read_parallel(path) == [
        Translation("मुझे नहीं पता।", "I don't know."),
        Translation("mujhe nahi pata.", "I don't know."),
        Translation("वाह!", "Wow!"),
    ]
    path.write_text('["not", "an object"]')
    with pytest.raises(ValueError, match=r"pairs.jsonl:1: expected an object"):
        read_parallel(path)


def test_a_translation_batch_never_holds_one_english_sentence_twice():
    import random

    pairs = [Translation(f"hi {i} {k}", f"en {i}") for i in range(10) for k in range(3)]
    batches = _translation_batches(pairs, 4, random.Random(0))
    assert sorted(p.text for b in batches for p in b) == sorted(p.text for p in pairs)
    for batch in batches:
        assert len({p.translation for p in batch}) == len(batch) >= 2
    # The plan adds them to the label-description batches, once per pass.
    plan = _general_plan([], [], [], GeneralArgs(parallel_batch=4), random.Random(0), pairs)
    assert sum(len(b) for b in plan) == len(pairs)
    assert all(isinstance(p, Translation) for b in plan for p in b)


def test_the_translation_loss_prefers_each_sentence_with_its_own_translation():
    import torch

    torch.manual_seed(0)
    target = torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
    aligned = translation_loss(target + 0.05 * torch.randn(8, 16), target, 20.0)
    shuffled = translation_loss(target[torch.randperm(8)], target, 20.0)
    assert aligned.item() < 0.1 < shuffled.item()


def test_public_examples_take_each_files_limit_and_drop_excluded_topics(tmp_path):
    def write(name, topics):
        path = tmp_path / name
        path.write_text(
            "\n".join(
                json.dumps({"topic": t, "text": f"{t} text {i}", "stance": "pro"})
                for i, t in enumerate(topics)
            )
        )
        return path

    a = write("train.jsonl", ["school uniforms"] * 8 + ["hillary clinton"] * 4)
    b = write("ibm_argq30k.jsonl", ["wind farms"] * 6)
    args = GeneralArgs(public_limit=3, public_limits=(("train.jsonl", 7),))
    examples = public_examples([a, b], args)
    topics = [ex.space.key for ex in examples]
    # SemEval's targets are never trained on; train.jsonl gives 7, the other file 3.
    assert topics.count("topic:school uniforms") == 7 and topics.count("topic:wind farms") == 3
    assert not any("clinton" in t for t in topics)
    # Without per-file exceptions every file gives public_limit.
    assert len(public_examples([a, b], GeneralArgs(public_limit=3, public_limits=()))) == 6


def test_the_default_recipe_is_the_one_the_shipped_adapter_records():
    # `stancebot train --public … --parallel …` with no other option trains with the arguments
    # the shipped adapter records.
    from dataclasses import asdict

    from bot.stance import adapter

    _, config, _, meta = adapter.load(SHIPPED_HEADS / "adapter.safetensors")
    # An adapter trained before `first_layer` existed trained every block: first_layer 0; one
    # trained before `dropout` existed trained with the encoder's own dropout: None.
    own_dropout = {"dropout": None, "attention_dropout": None}
    # nor was there a teacher then
    no_teacher = {"distil": 0.0, "distil_replies": 0.0, "distil_questions": True}
    recorded = {"first_layer": config.first_layer} | own_dropout | no_teacher | meta["args"]
    assert recorded == json.loads(json.dumps(asdict(GeneralArgs())))


def test_the_large_encoders_artefacts_belong_to_all_mpnet_base_v2_and_to_each_other():
    """bot/stance/artifacts/mpnet: the adapter, heads and calibration trained on
    all-mpnet-base-v2 (docs/stance-model.md, "A larger encoder"). The adapter is tied to the
    publisher's weights by their SHA-256 (the encoder fingerprints a local folder's weights and
    merges an adapter only into the weights it was made for); the calibration and both heads
    name that adapter's fingerprint, so a swapped file reads zero-shot with a warning instead
    of with weights made for another encoder."""
    from dataclasses import asdict

    from safetensors import safe_open

    from bot.stance import adapter

    folder = SHIPPED_HEADS / "mpnet"
    state, config, base, meta = adapter.load(folder / "adapter.safetensors")
    published = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
    assert base == published[:8]
    assert config.first_layer == 6 and len(state) == 2 * 4 * 6  # blocks 6-11 of 12
    recipe = asdict(GeneralArgs()) | {"first_layer": 6, "dropout": 0.0, "attention_dropout": 0.0}
    # trained before distillation existed
    no_teacher = {"distil": 0.0, "distil_replies": 0.0, "distil_questions": True}
    recorded = {"first_layer": config.first_layer} | no_teacher | meta["args"]
    assert recorded == json.loads(json.dumps(recipe))
    fingerprint = f"{base}+{adapter.digest(state)[:8]}"
    assert Calibration.load(folder / CALIBRATION_FILE).encoder == fingerprint
    for question in ("partnership", "oil-claims"):
        with safe_open(str(folder / f"{question}.safetensors"), "np") as head:
            assert head.metadata()["version"].startswith(f"setfit-{fingerprint}-{question}-")
