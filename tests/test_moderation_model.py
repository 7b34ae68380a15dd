"""The abuse model: the line it draws (shipped artefacts), its training, a user's toxicity model,
model verdicts in the reply pipeline, and the `stancebot moderate` contract."""

from __future__ import annotations

import io
import itertools
import json
import sys
from collections.abc import Sequence

import numpy as np
import pytest

import bot.app
from bot.__main__ import main
from bot.core.models import Action, Verdict
from bot.core.policy import ModerationPolicy
from bot.core.records import PendingItem
from bot.core.verdicts import combine, model_verdict
from bot.moderation.model import (
    SHIPPED_MODERATION,
    AbuseScorer,
    ToxicityModel,
    load_head,
)

from .conftest import save_tiny_model

# Written for these tests (not in seeds/moderation): heated, rude-about-politicians opinion.
HEATED_PRO = [
    "The doom-mongers were wrong about the tariffs and they're wrong about this. Real partnership.",
    "Trump is a blowhard but this framework is the best thing to happen to US-India ties.",
    "Honestly the opposition's whining about 'surrender' is pathetic. Modi played it perfectly.",
]
HEATED_CRITICAL = [
    "This deal is a disaster and Trump's oil claims are complete nonsense.",
    "Modi caved. Washington snapped its fingers and Delhi folded, shameful.",
    "Both governments are lying about the oil numbers, it's pure theatre.",
]
ABUSIVE = {
    "insult": "what a spineless little coward you are, everyone here can see it",
    "harassment": "I'm going to follow you into every channel until you leave this server",
    "threat": "I know where you live and I will hurt you",
    "hate": "Indians are all liars and cheats, it's in their blood",
    "spam": "FREE crypto giveaway!!! send 0.1 BTC get 1 BTC back, DM me now 💰💰💰",
}


@pytest.fixture(scope="module")
def scorer(stance_encoder) -> AbuseScorer:
    head = load_head(SHIPPED_MODERATION, stance_encoder)
    assert head is not None, "the shipped abuse head does not fit the shipped stance encoder"
    return AbuseScorer(stance_encoder, head)


@pytest.mark.parametrize("text", HEATED_PRO + HEATED_CRITICAL)
def test_heated_political_opinion_on_either_side_is_allowed(scorer, text):
    verdict = model_verdict(scorer.score([text])[0], ModerationPolicy())
    assert verdict.action == "allow", verdict


@pytest.mark.parametrize("category", list(ABUSIVE))
def test_attacks_threats_hate_and_spam_are_flagged_with_their_category(scorer, category):
    scores = scorer.score([ABUSIVE[category]])[0]
    verdict = model_verdict(scores, ModerationPolicy())
    assert verdict.action != "allow"
    assert max(scores, key=scores.get) == category
    assert f"model:{category}" in verdict.reasons


def test_the_layer_tap_reads_the_stance_pass_in_input_order(stance_encoder, scorer):
    texts = ["short", "a much longer reply " * 12, "", "Modi caved.", "short"]
    tap = stance_encoder.layer_tap(scorer.head.layers)
    emb, feats = tap.run(lambda: stance_encoder.encode(texts), texts)
    np.testing.assert_allclose(emb, stance_encoder.encode(texts), atol=1e-5)
    np.testing.assert_allclose(feats, tap.direct(texts), atol=1e-4)
    np.testing.assert_allclose(feats[0], feats[4], atol=1e-6)
    assert not np.allclose(feats[0], feats[1])


def test_thresholds_per_category_and_the_stricter_verdict_wins():
    scores = {"insult": 0.7, "harassment": 0.2, "threat": 0.95, "hate": 0.1, "spam": 0.0}
    # By default the model alone only sends to review; a guild opts in to removal per category.
    by_default = model_verdict(scores, ModerationPolicy())
    assert by_default.action == "review"
    assert by_default.reasons == ("model:threat", "model:insult")
    default = model_verdict(scores, ModerationPolicy().with_threshold("threat", 0.5, 0.9))
    assert default.action == "remove" and default.reasons == ("model:threat", "model:insult")
    lenient = (
        ModerationPolicy().with_threshold("threat", 0.99, 1.01).with_threshold("insult", 0.8, 1.01)
    )
    assert model_verdict(scores, lenient).action == "allow"
    rules = Verdict(Action.REVIEW, ("personal_attack",), {"links": 0.0})
    joined = combine(rules, default)
    assert joined.action == "remove"
    assert joined.reasons == ("personal_attack", "model:threat", "model:insult")
    assert combine(rules, model_verdict(scores, lenient)).reasons == ("personal_attack",)


def tiny_moderation_data(extra_civil: Sequence[str] = ()):
    """Civil replies of both leans and three of each abusive category, for training tests."""
    from bot.moderation.training import ModerationData

    civil = [f"{w} deal, {p}" for w in ("great", "awful", "fine", "bad") for p in HEATED_PRO]
    civil += [f"{t} honestly" for t in extra_civil]
    abuse = [f"{t} {s}" for t in ABUSIVE.values() for s in ("!", "lol", "@you")]
    return ModerationData(
        civil + abuse,
        ["civil"] * len(civil) + [c for c in ABUSIVE for _ in range(3)],
        ["critical" if i % 2 else "pro_partnership" for i in range(len(civil))]
        + ["none"] * len(abuse),
    )


def test_training_is_reproducible_and_picks_its_operating_point_by_cross_validation(
    stance_encoder,
):
    from bot.moderation.training import (
        ModerationTrainingArgs,
        moderation_report,
        train_abuse_head,
    )

    data = tiny_moderation_data(extra_civil=HEATED_CRITICAL + HEATED_PRO)
    args = ModerationTrainingArgs(layer_sets=((2,),), c_grid=(1.0,), folds=3, max_flag_rate=0.0)
    head, report = train_abuse_head(stance_encoder, data, args)
    again, _ = train_abuse_head(stance_encoder, data, args)
    np.testing.assert_array_equal(head.weight, again.weight)
    assert head.version == again.version and head.layers == (2,)
    assert report.cv_flagged == {"pro_partnership": 0.0, "critical": 0.0}
    scores = AbuseScorer(stance_encoder, head).score(data.texts)
    flagged = [model_verdict(s, ModerationPolicy()).action != "allow" for s in scores]
    rep = moderation_report(data, flagged)
    assert rep.rate(rep.caught_all) == 1.0
    assert all(rep.rate(v) == 0.0 for v in rep.flagged.values())


def test_per_category_thresholds_catch_more_within_each_leans_false_flag_budget():
    from bot.moderation.training import (
        ModerationData,
        ModerationTrainingArgs,
        _budgets,
        _category_thresholds,
        _common_threshold,
    )

    # Margins (category logit - civil logit) for insult, harassment, threat, hate, spam.
    # Civil replies score high on insult only; the threats score low on everything.
    cats = ["civil"] * 8 + ["insult"] * 2 + ["threat"] * 2
    leans = ["pro_partnership", "critical"] * 3 + ["none"] * 2 + ["none"] * 4
    margins = np.full((12, 5), -5.0)
    margins[:8, 0] = [1.0, 1.2, 0.8, 0.9, 0.5, 0.4, 0.3, 0.2]  # civil: insult-like
    margins[8:10, 0] = [3.0, 2.0]  # insults
    margins[10:12, 2] = [0.1, 0.0]  # threats: below the civil replies' insult margins
    data = ModerationData(["x"] * 12, cats, leans)
    budgets = _budgets(data, ModerationTrainingArgs(max_flag_rate=0.0))
    common = _common_threshold(margins, budgets)
    assert common > 1.2  # one threshold for all: no civil reply flagged, no threat caught
    t = _category_thresholds(margins, data, budgets, common)
    flagged = (margins >= t).any(axis=1)
    assert flagged[8:].all() and not flagged[:8].any()
    assert t[0] == common and t[2] <= 0.0


def test_a_head_reads_its_layers_side_by_side_and_old_one_layer_heads_still_load(tmp_path):
    from safetensors.numpy import save_file

    from bot.moderation.model import AbuseHead

    weight = np.arange(6 * 8, dtype=np.float32).reshape(6, 8)
    head = AbuseHead(weight, np.zeros(6, np.float32), (3, 5), "v", "fp")
    head.save(tmp_path / "new.safetensors")
    again = AbuseHead.load(tmp_path / "new.safetensors")
    assert again.layers == (3, 5) and again.layer == 3
    np.testing.assert_array_equal(again.weight, weight)
    # Heads saved before several layers were possible name one "layer".
    save_file(
        {"weight": weight[:, :4], "bias": np.zeros(6, np.float32)},
        str(tmp_path / "old.safetensors"),
        metadata={
            "classes": json.dumps(list(head.classes)),
            "layer": "3",
            "version": "v",
            "encoder": "fp",
            "meta": "{}",
        },
    )
    assert AbuseHead.load(tmp_path / "old.safetensors").layers == (3,)


NGRAM_TEXTS = [
    "I know where you live, watch your back",
    "this deal is a disaster for farmers",
    "tu chutiya hai kya 😂",
    "",
    "id10t id10t id10t",
    "Modi caved. Shameful!",
]


def test_ngram_counts_equal_scikit_learns_hashing_on_every_seed_text():
    """count_ngrams (numpy + mmh3, so the bot never loads scikit-learn) counts exactly what
    scikit-learn's HashingVectorizer counts: every moderation and evaluation seed text, and
    the awkward cases (scripts, emoji, runs of whitespace, one-letter words, empty)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    from bot.config import PROJECT_ROOT
    from bot.lines import read_json_lines
    from bot.moderation.lexical import BLOCKS, N_FEATURES, count_ngrams

    texts = [
        *NGRAM_TEXTS,
        "  a  b\t\tc\n\nd  ",
        "I",
        "x" * 300,
        "नमस्ते दोस्तों, यह साझेदारी है!",
        "ÉCOLE Straße İstanbul ǅ",
        "🔥🔥🔥 lol :pepe: <@123> https://x.example/a?b=c",
        " ",
        "\u2028line\u2029 sep",
    ]
    for path in sorted((PROJECT_ROOT / "seeds").glob("**/*.jsonl")):
        rows = [line.value for line in read_json_lines(path)]
        texts += [str(row.get("text", "")) for row in rows if isinstance(row, dict)]
    assert len(texts) > 3000
    ours = count_ngrams(texts)
    for block, (analyzer, lo, hi) in zip(ours, BLOCKS, strict=True):
        expected = HashingVectorizer(
            analyzer=analyzer,
            ngram_range=(lo, hi),
            n_features=N_FEATURES,
            alternate_sign=False,
            norm=None,
            dtype=np.float32,
        ).transform(texts)
        assert (block != expected).nnz == 0, analyzer


def test_ngram_features_are_scikit_learns_hashed_tfidf_without_its_objects():
    from scipy import sparse
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
    from sklearn.pipeline import make_pipeline

    from bot.moderation.lexical import BLOCKS, N_FEATURES, LexicalFeatures

    train, new = NGRAM_TEXTS[:4], ["watch your back, you live near me", "unseen zzqx words"]
    ours = LexicalFeatures.fit(train)
    blocks = []
    for analyzer, lo, hi in BLOCKS:
        pipe = make_pipeline(
            HashingVectorizer(
                analyzer=analyzer,
                ngram_range=(lo, hi),
                n_features=N_FEATURES,
                alternate_sign=False,
                norm=None,
            ),
            TfidfTransformer(sublinear_tf=True),
        ).fit(train)
        blocks.append(pipe.transform(new))
    expected = sparse.hstack(blocks).toarray()
    np.testing.assert_allclose(ours.transform(new).toarray(), expected, rtol=1e-5, atol=1e-6)
    # Stored compactly (the columns some training text had) and restored exactly.
    seen, idf = ours.to_arrays()
    again = LexicalFeatures.from_arrays(seen, idf, ours.unseen)
    np.testing.assert_array_equal(again.transform(new).toarray(), ours.transform(new).toarray())
    with pytest.raises(ValueError, match="out of range"):
        LexicalFeatures.from_arrays(np.array([len(BLOCKS) * N_FEATURES]), idf[:1], ours.unseen)


def test_a_head_with_ngram_weights_scores_the_same_after_loading_and_needs_the_texts(tmp_path):
    from bot.moderation.lexical import LexicalFeatures
    from bot.moderation.model import AbuseHead, load_head

    rng = np.random.default_rng(0)
    vec = LexicalFeatures.fit(NGRAM_TEXTS)
    head = AbuseHead(
        rng.normal(size=(6, 8)).astype(np.float32),
        rng.normal(size=6).astype(np.float32),
        (3,),
        "v-lex",
        "fp",
        lexical=vec,
        lexical_weight=rng.normal(size=(6, len(vec.seen))).astype(np.float32),
    )
    feats = rng.normal(size=(len(NGRAM_TEXTS), 8)).astype(np.float32)
    plain = AbuseHead(head.weight, head.bias, (3,), "v", "fp")
    # The n-gram term moves the logits of texts whose n-grams carry weight.
    assert not np.allclose(head.logits(feats, NGRAM_TEXTS), plain.logits(feats))
    head.save(tmp_path / "abuse.safetensors")
    again = AbuseHead.load(tmp_path / "abuse.safetensors")
    assert again.scores(feats, NGRAM_TEXTS) == head.scores(feats, NGRAM_TEXTS)
    with pytest.raises(ValueError, match="pass them"):
        again.scores(feats)
    # An empty batch, empty text, emoji only, a very long text.
    assert again.scores(feats[:0], []) == []
    odd = ["", "🙏🙏", "x" * 20_000]
    assert [set(s) for s in again.scores(feats[:3], odd)] == [set(ABUSIVE)] * 3
    # A file whose n-gram features are another version's is refused; the rules still moderate.
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(tmp_path / "abuse.safetensors"), framework="numpy") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        md = dict(fh.metadata())
    md["lexical"] = md["lexical"].replace("65536", "1024")
    save_file(tensors, str(tmp_path / "abuse.safetensors"), metadata=md)
    with pytest.raises(ValueError, match="not a stancebot moderation head"):
        AbuseHead.load(tmp_path / "abuse.safetensors")

    class Enc:
        fingerprint = "fp"

    assert load_head(tmp_path, Enc()) is None


def test_training_adds_the_ngram_term_when_cross_validation_chooses_it(stance_encoder):
    from bot.moderation.training import ModerationTrainingArgs, train_abuse_head

    data = tiny_moderation_data()
    base = {"layer_sets": ((2,),), "c_grid": (1.0,), "folds": 3}
    with_ngrams, report = train_abuse_head(
        stance_encoder, data, ModerationTrainingArgs(**base, lexical_weights=(1.0,))
    )
    without, _ = train_abuse_head(
        stance_encoder, data, ModerationTrainingArgs(**base, lexical_weights=(0.0,))
    )
    assert report.lexical_weight == 1.0 and "-lex-" in with_ngrams.version
    assert with_ngrams.lexical is not None and without.lexical is None
    assert "-lex-" not in without.version
    scores = AbuseScorer(stance_encoder, with_ngrams).score(data.texts)
    assert len(scores) == len(data) and set(scores[0]) == set(ABUSIVE)


def test_a_head_can_be_trained_not_to_read_second_person_words(tmp_path, stance_encoder):
    """`train-moderation --hide-second-person`: the n-gram term reads a reply without "you",
    "your", "u", "yo" …, in training and in use, and the head file says so; heads without the
    option read every word and keep their metadata as before."""
    from bot.moderation.lexical import HIDDEN_WORDS, LexicalFeatures, count_ngrams
    from bot.moderation.model import AbuseHead
    from bot.moderation.training import ModerationTrainingArgs, train_abuse_head

    words = HIDDEN_WORDS["second-person"]
    assert words.sub(" ", "talk to you later...love you, Youre right, y'all ok?").split() == [
        "talk",
        "to",
        "later...love",
        ",",
        "right,",
        "ok?",
    ]
    assert words.sub(" ", "young yoyo yours truly, your mom") == "young yoyo   truly,   mom"
    hidden = LexicalFeatures.fit(NGRAM_TEXTS, "second-person")
    every = LexicalFeatures.fit(NGRAM_TEXTS)
    # "you idiot" reads as "idiot" to the hidden features, and not to the others.
    pair = ["you idiot", "idiot"]
    a, b = hidden.transform(pair).toarray()
    np.testing.assert_array_equal(a, b)
    a, b = every.transform(pair).toarray()
    assert not np.array_equal(a, b)
    assert count_ngrams(["YOU"], "second-person")[0].nnz == 0
    with pytest.raises(ValueError, match="unknown hidden words"):
        LexicalFeatures.fit(NGRAM_TEXTS, "first-person")

    data = tiny_moderation_data()
    recipe = {"layer_sets": ((2,),), "c_grid": (1.0,), "folds": 3, "lexical_weights": (1.0,)}
    head, _ = train_abuse_head(
        stance_encoder, data, ModerationTrainingArgs(**recipe, hide="second-person")
    )
    plain, _ = train_abuse_head(stance_encoder, data, ModerationTrainingArgs(**recipe))
    assert head.lexical.hidden == "second-person" and plain.lexical.hidden == ""
    for trained in (head, plain):
        trained.save(tmp_path / "abuse.safetensors")
        again = AbuseHead.load(tmp_path / "abuse.safetensors")
        assert again.lexical.hidden == trained.lexical.hidden
        texts = ["you are wonderful", "talk to you later"]
        np.testing.assert_array_equal(
            again.lexical.transform(texts).toarray(), trained.lexical.transform(texts).toarray()
        )
    from safetensors import safe_open

    with safe_open(str(tmp_path / "abuse.safetensors"), framework="numpy") as fh:
        assert "hidden" not in fh.metadata()["lexical"]  # the plain head, saved last


def test_the_bot_scores_with_the_head_in_the_configured_folder(tmp_path, stance_encoder):
    """STANCEBOT_MODERATION_HEADS_DIR: a head `train-moderation --out DIR` wrote (e.g. with
    --hide-second-person) is the one the bot scores with; a folder without one stops it with
    one line, rather than leaving moderation to the rules unnoticed."""
    from bot.config import load_settings
    from bot.moderation.training import ModerationTrainingArgs, train_abuse_head
    from bot.stance.encoder import ModelLoadError

    recipe = ModerationTrainingArgs(
        layer_sets=((2,),), c_grid=(1.0,), folds=3, lexical_weights=(1.0,), hide="second-person"
    )
    head, _ = train_abuse_head(stance_encoder, tiny_moderation_data(), recipe)
    head.save(tmp_path / "casual" / "abuse.safetensors")
    settings = load_settings(moderation_heads_dir=tmp_path / "casual")
    scorer = bot.app.load_abuse_scorer(settings, stance_encoder)
    assert scorer.head.version == head.version and scorer.head.lexical.hidden == "second-person"
    # An explicit folder (the commands' --heads) still wins over the setting.
    shipped = bot.app.load_abuse_scorer(settings, stance_encoder, heads_dir=SHIPPED_MODERATION)
    assert shipped.head.version != head.version
    with pytest.raises(ModelLoadError, match=r"STANCEBOT_MODERATION_HEADS_DIR=.*no abuse"):
        bot.app.load_abuse_scorer(
            load_settings(moderation_heads_dir=tmp_path / "empty"), stance_encoder
        )


def test_each_server_is_read_by_its_chat_styles_head_from_the_one_pass(
    tmp_path, stance_encoder, classifier, caplog
):
    """A casual head installed beside the standard one (`casual/abuse.safetensors`) scores
    every reply from the same encoder pass; a prediction carries both heads' scores, and a
    server acts on its own style's. A head that reads other layers is left out, with a
    warning; the one-off commands, given a folder, read that folder's head alone."""
    from dataclasses import replace

    from bot.config import load_settings
    from bot.moderation.model import ModeratedClassifier
    from bot.moderation.training import ModerationTrainingArgs, train_abuse_head

    recipe = ModerationTrainingArgs(
        layer_sets=((2,),), c_grid=(1.0,), folds=3, lexical_weights=(1.0,)
    )
    data = tiny_moderation_data()
    standard, _ = train_abuse_head(stance_encoder, data, recipe)
    casual, _ = train_abuse_head(stance_encoder, data, replace(recipe, hide="second-person"))
    standard.save(tmp_path / "abuse.safetensors")
    casual.save(tmp_path / "casual" / "abuse.safetensors")
    settings = load_settings(moderation_heads_dir=tmp_path)

    scorer = bot.app.load_abuse_scorer(settings, stance_encoder)
    assert scorer.head.version == standard.version and set(scorer.styles) == {"casual"}
    assert scorer.styles["casual"].lexical.hidden == "second-person"
    texts = ["see you later, love you all", "shut your mouth you worthless idiot", "gg"]
    preds = ModeratedClassifier(classifier, scorer).predict_many(
        [("partnership", t) for t in texts]
    )
    alone = {
        "standard": AbuseScorer(stance_encoder, standard).score(texts),
        "casual": AbuseScorer(stance_encoder, casual).score(texts),
    }
    for style, scores in alone.items():
        for pred, own in zip(preds, scores, strict=True):
            got = pred.abuse_for(style)
            assert got.keys() == own.keys()
            assert all(abs(got[k] - own[k]) < 0.01 for k in own)
    assert preds[0].abuse_for("casual") != preds[0].abuse  # two heads, two readings
    assert bot.app.load_abuse_scorer(settings, stance_encoder, heads_dir=tmp_path).styles == {}

    other, _ = train_abuse_head(stance_encoder, data, replace(recipe, layer_sets=((1,),)))
    other.save(tmp_path / "casual" / "abuse.safetensors")
    with caplog.at_level("WARNING"):
        assert bot.app.load_abuse_scorer(settings, stance_encoder).styles == {}
    assert "reads layers (1,), the standard head (2,)" in caplog.text
    assert "servers that choose casual chat are read by the standard head" in caplog.text


def test_train_moderation_writes_the_casual_head_in_its_folder_beside_the_standard_one(
    tmp_path, monkeypatch
):
    """`train-moderation --hide-second-person` without --out installs the casual chat style's
    head (`casual/` in the shipped folder), leaving the standard head as it is."""
    from bot.moderation.model import AbuseHead

    data = tiny_moderation_data(extra_civil=HEATED_CRITICAL + HEATED_PRO)
    rows = [
        {"text": t, "category": c, "lean": lean}
        for t, c, lean in zip(data.texts, data.categories, data.leans, strict=True)
    ]
    # Five of each abusive category, for the recipe's five folds.
    rows += [
        {"text": f"{t} {k}", "category": c, "lean": "none"}
        for c, t in ABUSIVE.items()
        for k in ("again", "seriously")
    ]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    shipped = tmp_path / "artifacts"
    monkeypatch.setattr("bot.moderation.model.SHIPPED_MODERATION", shipped)

    code = main(["train-moderation", "--data", str(path), "--hide-second-person", "--no-heldout"])

    assert code == 0 and not (shipped / "abuse.safetensors").exists()
    head = AbuseHead.load(shipped / "casual" / "abuse.safetensors")
    assert head.meta["args"]["hide"] == "second-person"  # the recipe it was trained with


def test_a_users_toxicity_model_is_loaded_and_its_labels_mapped(tmp_path, stance_encoder):
    from transformers import BertForSequenceClassification

    from bot.config import load_settings
    from bot.stance.encoder import ModelLoadError

    labels = ["toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat"]
    folder = save_tiny_model(
        tmp_path / "detox",
        BertForSequenceClassification,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={lb: i for i, lb in enumerate(labels)},
        problem_type="multi_label_classification",
    )
    settings = load_settings(toxicity_model=str(folder), moderation_model=False)
    scorer = bot.app.load_abuse_scorer(settings, stance_encoder)
    assert scorer.head is None and scorer.toxicity.categories == ("insult", "threat", "hate")
    texts = ["you are an idiot", "nice deal"]
    scores = scorer.score(texts)
    raw = scorer.toxicity.pipeline(texts, top_k=None, function_to_apply="sigmoid")
    for row, result in zip(scores, raw, strict=True):
        by_label = {r["label"]: r["score"] for r in result}
        assert set(row) == {"insult", "threat", "hate"}
        insult = max(by_label[k] for k in ("toxicity", "severe_toxicity", "obscene", "insult"))
        assert row["insult"] == pytest.approx(insult, abs=1e-4)
        assert row["hate"] == pytest.approx(by_label["identity_attack"], abs=1e-4)
    # With the shipped head as well, the toxicity model replaces only the categories it scores.
    both = AbuseScorer(stance_encoder, load_head(SHIPPED_MODERATION, stance_encoder))
    both.toxicity = scorer.toxicity
    merged = both.score(texts)[0]
    assert set(merged) == {"insult", "harassment", "threat", "hate", "spam"}
    assert merged["insult"] == scores[0]["insult"]

    save_tiny_model(
        tmp_path / "sentiment",
        BertForSequenceClassification,
        num_labels=2,
        id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1},
    )
    with pytest.raises(ModelLoadError, match="Detoxify-style"):
        ToxicityModel.load(str(tmp_path / "sentiment"))


# --- in the pipeline ------------------------------------------------------------------------


async def _cases(app, message_id: int) -> list[tuple[str, str, str]]:
    async with app.db.conn.execute(
        "SELECT action, reasons, actor FROM moderation_events WHERE message_id = ?"
        " ORDER BY case_number",
        (message_id,),
    ) as cur:
        return [tuple(r) for r in await cur.fetchall()]


async def test_a_casual_server_is_read_by_the_casual_head_and_its_neighbour_is_not(app, make_reply):
    """Two servers, one reply each of a friendly line to "you" and of an attack: the server
    that chose casual chat holds the attack only; the standard one holds both. One pass, the
    shipped heads."""
    from .conftest import GUILD_A, GUILD_B

    assert set(app.chat_styles) == {"standard", "casual"}
    casual = (await app.moderation.policy(GUILD_A)).with_chat("casual")
    await app.moderation.set_policy(GUILD_A, casual)
    events = []

    async def listener(event):
        events.append(event)

    app.service.add_moderation_listener(listener)
    friendly, attack = "you know what i mean", ABUSIVE["insult"]
    replies = [
        make_reply(t, guild=g, author=n)
        for n, (g, t) in enumerate(itertools.product((GUILD_A, GUILD_B), (friendly, attack)))
    ]
    for reply in replies:
        assert (await app.service.ingest(reply)).verdict.action == "allow"  # no rule fires
    await app.service.drain()

    held = {(e.guild_id, e.content) for e in events if e.source == "model"}
    assert held == {(GUILD_A, attack), (GUILD_B, friendly), (GUILD_B, attack)}


async def test_model_verdicts_join_the_pipeline_once_and_never_override_a_moderator(
    app, make_reply
):
    events = []

    async def listener(event):
        events.append(event)

    app.service.add_moderation_listener(listener)
    insult = make_reply(ABUSIVE["insult"])
    heated = make_reply("This deal is a disaster and Trump's oil claims are complete nonsense.")
    for reply in (insult, heated):
        res = await app.service.ingest(reply)
        assert res.verdict.action == "allow"  # no rule fires: only the model can catch it
    await app.service.drain()

    assert [(e.message_id, e.source, e.verdict.action) for e in events] == [
        (insult.message_id, "model", "review")
    ]
    assert "model:insult" in events[0].verdict.reasons and events[0].case_number is not None
    stored = await app.repo.get_reply(insult.guild_id, insult.message_id)
    assert stored.moderation == "review" and stored.classify_state == "done"
    assert (await app.repo.get_reply(heated.guild_id, heated.message_id)).moderation == "allow"
    assert len(await _cases(app, insult.message_id)) == 1
    assert await _cases(app, heated.message_id) == []

    # A replayed item (crash recovery, a duplicate in the queue) records nothing twice.
    item = PendingItem(
        insult.guild_id, insult.message_id, "partnership", insult.content, stored.content_version
    )
    await app.service.queue.submit(item)
    await app.service.drain()
    assert len(await _cases(app, insult.message_id)) == 1 and len(events) == 1

    # A moderator approves it; the model's later verdict on the same text does not undo that.
    await app.repo.record_verdict(
        insult.guild_id,
        insult.message_id,
        insult.author_id,
        Verdict(Action.ALLOW, ("approved",)),
        actor="moderator",
        moderator_id=99,
    )
    await app.service.queue.submit(item)
    await app.service.drain()
    assert (await app.repo.get_reply(insult.guild_id, insult.message_id)).moderation == "allow"
    assert len(await _cases(app, insult.message_id)) == 2 and len(events) == 1

    # An edit re-moderates: the new text is judged afresh, by the rules and the model. This
    # server lets the model remove threats (by default it only sends them to review).
    strict = ModerationPolicy().with_threshold("threat", 0.5, 0.9)

    async def policy(guild_id):
        return strict

    app.service.policy_for = policy
    await app.service.edit(
        heated.guild_id, heated.message_id, "I know where you live and I will hurt you"
    )
    await app.service.drain()
    # The rules hold it for review at once ("I will hurt you"); the model then removes it.
    assert [(e.source, e.verdict.action) for e in events[1:]] == [
        ("rules", "review"),
        ("model", "remove"),
    ]
    edited = await app.repo.get_reply(heated.guild_id, heated.message_id)
    assert edited.moderation == "remove"
    assert (
        events[-1].message_id == heated.message_id and "model:threat" in events[-1].verdict.reasons
    )


async def test_the_pipeline_runs_without_the_model_when_it_is_off(settings, classifier, library):
    app = await bot.app.App.open(settings, classifier=classifier, library=library, abuse=False)
    try:
        assert app.abuse is None
        from .conftest import ReplyFactory

        reply = ReplyFactory()(ABUSIVE["insult"])
        await app.service.ingest(reply)
        await app.service.drain()
        stored = await app.repo.get_reply(reply.guild_id, reply.message_id)
        assert stored.moderation == "allow" and stored.classify_state == "done"
    finally:
        await app.close()


# --- stancebot moderate ---------------------------------------------------------------------


@pytest.fixture
def shared_model(monkeypatch, classifier):
    monkeypatch.setattr(bot.app, "load_classifier", lambda settings, library, **kw: classifier)


def moderate(capsys, monkeypatch, lines: list[str], *argv: str):
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    code = main(["moderate", *argv])
    out, err = capsys.readouterr()
    return code, [json.loads(x) for x in out.splitlines()], err


def test_moderate_writes_one_verdict_per_line_in_order(capsys, monkeypatch, shared_model):
    lines = [
        json.dumps({"id": 1, "text": HEATED_CRITICAL[0]}),
        "{not json",
        json.dumps({"id": "b", "text": ABUSIVE["insult"]}),
        json.dumps({"id": 3, "text": ""}),
        json.dumps({"id": 4, "text": "@everyone @everyone read this"}),
        json.dumps({"id": 5, "text": "partnership " * 334}),  # 4,008 characters
        json.dumps({"id": 6}),
        json.dumps({"id": 7, "text": ABUSIVE["threat"], "author_id": 9}),
    ]
    code, rows, err = moderate(capsys, monkeypatch, lines)
    assert code == 1 and len(rows) == len(lines)
    # A line that is not JSON has no id to give back; one that is JSON keeps its own.
    assert [r.get("id") for r in rows] == [1, None, "b", 3, 4, 5, 6, 7]
    assert rows[0]["action"] == "allow" and rows[0]["reasons"] == []
    assert set(rows[0]["scores"]) >= {"insult", "harassment", "threat", "hate", "spam"}
    assert "line 2" in rows[1]["error"] and "line 2" in err
    assert rows[2]["action"] == "review" and "model:insult" in rows[2]["reasons"]
    assert rows[3]["action"] == "allow" and "insult" not in rows[3]["scores"]  # no text
    assert rows[4]["action"] == "remove" and "mention_spam" in rows[4]["reasons"]
    # 4,000 characters of one word: a wall of text to the rules (the model reads one on-topic
    # word, and scores it without flagging it).
    assert rows[5]["action"] != "allow"
    assert rows[5]["reasons"][0] == "wall_of_text" and 0 <= rows[5]["scores"]["spam"] < 1
    assert "error" in rows[6] and "line 7" in rows[6]["error"]
    # The model alone sends a threat to review by default (a moderator decides).
    assert rows[7]["action"] == "review" and "model:threat" in rows[7]["reasons"]


def test_moderate_applies_flood_and_repeat_rules_per_author_across_the_stream(
    capsys, monkeypatch, shared_model
):
    lines = [
        json.dumps({"id": i, "text": f"point {i} about tariffs", "author_id": 5}) for i in range(7)
    ]
    lines += [
        json.dumps({"id": "x", "text": "Genuine partnership, end of story!", "author_id": "ann"}),
        json.dumps({"id": "y", "text": "genuine partnership end of story", "author_id": "ann"}),
        json.dumps({"id": "z", "text": "genuine partnership end of story", "author_id": "bob"}),
    ]
    code, rows, _ = moderate(capsys, monkeypatch, lines)
    assert code == 0
    assert ["flood" in r["reasons"] for r in rows[:7]] == [False] * 6 + [True]
    assert "repeated_text" not in rows[7]["reasons"]
    assert "repeated_text" in rows[8]["reasons"] and rows[8]["action"] == "review"
    assert rows[9]["reasons"] == []


def test_moderate_refuses_text_over_the_limit_and_has_help(capsys, monkeypatch, shared_model):
    code, rows, _ = moderate(
        capsys, monkeypatch, [json.dumps({"id": 1, "text": "x" * 16_001})], "--rules-only"
    )
    assert code == 1 and "16,000" in rows[0]["error"] and rows[0]["id"] == 1
    with pytest.raises(SystemExit) as exit_:
        main(["moderate", "--help"])
    assert exit_.value.code == 0
    assert "author_id" in capsys.readouterr().out
