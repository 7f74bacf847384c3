"""Response-empathy ratings: (post, response) items, campaigns, keyboard-free use cases, agreement per mechanism,
import and export, and a rater trained on the ratings. Intensity ratings stay as they were."""

from __future__ import annotations

import csv
import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from empathy_studio.campaigns import CampaignRequest
from empathy_studio.epitome import read_pairs
from empathy_studio.errors import DataError, PermissionDenied
from empathy_studio.labels import EPITOME_MECHANISMS
from empathy_studio.store import StoreError

from .conftest import EPITOME

ER, IP, EX = EPITOME_MECHANISMS
POSTS = [
    "i feel so alone since my mother died",
    "my exam went badly and i am scared",
    "i cannot sleep, work is too much",
    "my friend does not talk to me anymore",
    "i lost my job today",
]
RESPONSES = [
    "i am so sorry, that sounds really hard",
    "you are worried it will happen again?",
    "what happened at work?",
    "ok",
    "that must feel lonely. how are you coping?",
]


def pairs_csv(path, n: int = 30, gold: bool = True):
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "post", "response", *(EPITOME_MECHANISMS if gold else [])])
        for i in range(n):
            w.writerow([f"p{i}", POSTS[i % 5] + f" ({i})", RESPONSES[i % 5], *([i % 3, (i // 3) % 3, (i // 9) % 3] if gold else [])])
    return path


@pytest.fixture
def pairs_campaign(tiny_studio, tmp_path):
    root = tiny_studio.annotation.login("root", "pw")
    tiny_studio.store.add_annotator("ben", "annotator", "pw")
    req = CampaignRequest(name="empathy-1", kind="empathy", source="file", file=str(pairs_csv(tmp_path / "pairs.csv")), k=2)
    tiny_studio.create_campaign(root, req)
    return tiny_studio


def test_an_empathy_campaign_serves_pairs_to_k_annotators_and_rates_them(pairs_campaign):
    s = pairs_campaign
    ana, ben = s.annotation.login("ana", "pw"), s.annotation.login("ben", "pw")
    camp = s.store.campaign("empathy-1")
    assert camp["kind"] == "empathy" and camp["scales"] == list(EPITOME_MECHANISMS)
    first = s.annotation.next_in(ana, "empathy-1")
    view = s.rating_view(ana, first, "empathy-1")
    assert view["pair"]["post"].startswith(POSTS[int(first.split(":p")[1]) % 5]) and view["rating"] is None
    assert "gold" not in json.dumps(view["pair"])  # blind: the pair, never its gold levels
    res = s.annotation.rate_empathy(ana, first, {ER: 2, IP: 1, EX: 0}, "empathy-1", note="kind")
    assert res["status"] == "created" and res[ER] == 2
    assert s.annotation.rate_empathy(ana, first, {ER: 2, IP: 1, EX: 0}, "empathy-1", note="kind")["status"] == "unchanged"
    assert s.annotation.rate_empathy(ana, first, {ER: "weak", IP: 1, EX: 0}, "empathy-1", note="kind")["status"] == "updated"
    assert s.annotation.progress(ana, "empathy-1")["done"] == 1
    # undo in an empathy campaign undoes the last empathy save, and leaves intensity ratings alone
    s.annotation.rate(ana, "esconv-demo-0", 4, 2) if s.store.item("esconv-demo-0") else None
    before = s.store.count_ratings()
    assert s.annotation.undo(ana, "empathy-1")["restored"][ER] == 2
    assert s.store.count_ratings() == before
    ben_item = s.annotation.next_in(ben, "empathy-1")
    assert ben_item == first  # the campaign fills: ana's item gets its second rater before a new one opens
    assert s.store.campaign_progress(camp["id"])["ratings"] == 1


def test_bad_empathy_ratings_are_one_clear_message_and_write_nothing(pairs_campaign):
    s = pairs_campaign
    ana = s.annotation.login("ana", "pw")
    item = s.annotation.next_in(ana, "empathy-1")
    for levels, message in (
        ({ER: 3, IP: 0, EX: 0}, "emotional reactions must be 0, 1 or 2"),
        ({ER: -1, IP: 0, EX: 0}, "must be 0, 1 or 2"),
        ({ER: 1.5, IP: 0, EX: 0}, "must be 0, 1 or 2"),
        ({ER: True, IP: 0, EX: 0}, "must be 0, 1 or 2"),
        ({ER: 1, IP: 0}, "explorations must be 0, 1 or 2"),
        ({ER: 1, IP: 0, EX: 0, "warmth": 2}, "unknown mechanism 'warmth'"),
    ):
        with pytest.raises(StoreError, match=message):
            s.annotation.rate_empathy(ana, item, levels, "empathy-1")
    with pytest.raises(StoreError, match="unknown response 'empathy-1:nope'"):
        s.annotation.rate_empathy(ana, "empathy-1:nope", {ER: 1, IP: 1, EX: 1}, "empathy-1")
    dialogue = s.store.item_ids("intensity")[0]
    with pytest.raises(StoreError, match="is a dialogue, not a \\(post, response\\) pair"):
        s.annotation.rate_empathy(ana, dialogue, {ER: 1, IP: 1, EX: 1}, "empathy-1")
    with pytest.raises(StoreError, match="is a supporter's response, not a dialogue"):
        s.annotation.rate(ana, item, 3, 3)
    with pytest.raises(StoreError, match="collects empathy ratings, not intensity"):
        s.store.rate("ana", dialogue, 3, 3, campaign_id=s.store.campaign("empathy-1")["id"])
    assert s.store.empathy_ratings() == [] and s.store.count_ratings() == 0
    # the dialogues' default queue never offers a pair
    assert not any(":" in i and i.startswith("empathy-1") for i in s.annotation.queue(ana))


def test_pairs_files_are_checked_whole(tmp_path):
    (tmp_path / "cols.csv").write_text("seeker,reply\nhi,hello\n")
    with pytest.raises(DataError, match="missing column post, response"):
        read_pairs(tmp_path / "cols.csv")
    (tmp_path / "levels.csv").write_text(f"post,response,{ER},{IP},{EX}\nhi,hello,1,3,0\n")
    with pytest.raises(DataError, match="row 1: interpretations must be 0, 1 or 2, got '3'"):
        read_pairs(tmp_path / "levels.csv")
    (tmp_path / "some.csv").write_text(f"post,response,{ER}\nhi,hello,1\n")
    with pytest.raises(DataError, match="gold levels need all three mechanisms"):
        read_pairs(tmp_path / "some.csv")
    (tmp_path / "empty.jsonl").write_text('{"post": "hi", "response": "  "}\n')
    with pytest.raises(DataError, match="row 1: the response is empty"):
        read_pairs(tmp_path / "empty.jsonl")
    (tmp_path / "broken.jsonl").write_text('{"post": "hi", \n')
    with pytest.raises(DataError, match="not a readable JSONL file"):
        read_pairs(tmp_path / "broken.jsonl")
    (tmp_path / "ok.jsonl").write_text('{"post": "hi", "response": "hello"}\n{"post": "a", "response": "b", "id": "x"}\n')
    assert [r["id"] for r in read_pairs(tmp_path / "ok.jsonl")] == ["1", "x"]
    (tmp_path / "ids.jsonl").write_text(
        "".join(f'{{"post": "p", "response": "r", "id": {i}, "{ER}": 2.0, "{IP}": 0, "{EX}": 1}}\n' for i in range(3))
    )
    assert [(r["id"], r["levels"]) for r in read_pairs(tmp_path / "ids.jsonl")] == [(str(i), [2, 0, 1]) for i in range(3)]


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_any_pairs_file_is_read_or_refused_with_one_data_error(tmp_path, text):
    for suffix in (".csv", ".jsonl"):
        path = tmp_path / f"f{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            rows = read_pairs(path)
        except DataError:
            continue
        assert all(r["post"] and r["response"] for r in rows)


def test_a_campaign_from_a_file_without_the_columns_writes_nothing(tiny_studio, tmp_path):
    root = tiny_studio.annotation.login("root", "pw")
    (tmp_path / "bad.csv").write_text("text,label\nhello,1\n")
    before = tiny_studio.store.count_items("empathy")
    with pytest.raises(DataError, match="missing column post, response"):
        tiny_studio.create_campaign(root, CampaignRequest(name="bad", kind="empathy", source="file", file=str(tmp_path / "bad.csv")))
    assert tiny_studio.store.count_items("empathy") == before
    assert "bad" not in [c["name"] for c in tiny_studio.store.campaigns()]
    ana = tiny_studio.annotation.login("ana", "pw")
    with pytest.raises(PermissionDenied):
        tiny_studio.create_campaign(ana, CampaignRequest(name="mine", kind="empathy", source="file", file=str(tmp_path / "bad.csv")))


def test_agreement_per_mechanism_with_gold_and_export_import_round_trip(pairs_campaign, tmp_path):
    s = pairs_campaign
    root, ana, ben = (s.annotation.login(n, "pw") for n in ("root", "ana", "ben"))
    ids = s.store.campaign_item_ids(s.store.campaign("empathy-1")["id"])[:12]
    for i, item in enumerate(ids):
        gold = json.loads(s.store.item(item)["gold_levels"])
        s.store.rate_empathy("ana", item, dict(zip(EPITOME_MECHANISMS, gold)), s.store.campaign("empathy-1")["id"])
        # ben agrees on ER, is off by one on IP for a third of the items, and rates EX at random
        ip = gold[1] if i % 3 else min(gold[1] + 1, 2)
        s.store.rate_empathy("ben", item, {ER: gold[0], IP: ip, EX: (i * 7) % 3}, s.store.campaign("empathy-1")["id"])
    report = s.campaign_agreement(root, "empathy-1", n_boot=50)
    assert report["kind"] == "empathy" and report["n_ratings"] == 24 and report["n_items"] == 12
    assert report[ER]["alpha_ordinal"] == pytest.approx(1.0) and report[ER]["qwk"]["mean"] == pytest.approx(1.0)
    assert 0 < report[IP]["alpha_ordinal"] < 1 and report[EX]["alpha_ordinal"] < report[IP]["alpha_ordinal"]
    assert report[ER]["annotators"]["ana"]["gold"]["exact"] == 1.0 and report[EX]["annotators"]["ana"]["gold"]["qwk"] == pytest.approx(1.0)
    with pytest.raises(PermissionDenied):
        s.campaign_agreement(ana, "empathy-1")
    # export and import: every row back, nothing doubled; bad rows named with their reason
    path = s.campaign_export(root, "empathy-1", "csv")
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 24 and set(EPITOME_MECHANISMS) <= set(rows[0])
    result = s.import_ratings(path)
    assert result["rejected"] == [] and result["written"] == 24 and len(s.store.empathy_ratings()) == 24
    bad = tmp_path / "bad.csv"
    bad.write_text(
        f"annotator,item_id,{ER},{IP},{EX},campaign\nana,{ids[0]},3,0,0,empathy-1\nana,nope,1,1,1,empathy-1\n"
        f"ana,{ids[0]},1,1,1,\nana,{ids[0]},1,1,1,default\n"
    )
    result = s.import_ratings(bad)
    reasons = [r["reason"] for r in result["rejected"]]
    assert result["written"] == 0 and len(reasons) == 4
    assert "must be 0, 1 or 2" in reasons[0] and "unknown response 'nope'" in reasons[1]
    assert "needs the campaign" in reasons[2] and "collects intensity ratings" in reasons[3]


def test_a_rater_trains_on_the_ratings_alone_without_epitome(tiny_studio, tiny_encoder, tmp_path):
    """Policy `ratings`: the rated pairs' median levels, split 80/10/10 when EPITOME is not there."""
    from empathy_studio import registry
    from empathy_studio.training.request import TrainRequest

    tiny_studio.sources.epitome = None
    root = tiny_studio.annotation.login("root", "pw")
    tiny_studio.create_campaign(
        root, CampaignRequest(name="e", kind="empathy", source="file", k=1, file=str(pairs_csv(tmp_path / "p.csv", n=30, gold=False)))
    )
    cid = tiny_studio.store.campaign("e")["id"]
    for i, item in enumerate(tiny_studio.store.campaign_item_ids(cid)):
        tiny_studio.store.rate_empathy("ana", item, {ER: i % 3, IP: (i + 1) % 3, EX: 0}, cid)
    tiny_studio.registry.base["tiny-bert"] = registry.ModelSpec("tiny-bert", "encoder", str(tiny_encoder))
    with pytest.raises(DataError, match="EPITOME is not configured"):
        tiny_studio.train_and_register(TrainRequest(model="tiny-bert", task="empathy", name="r0"))
    with pytest.raises(DataError, match="train on --policy ratings alone"):
        tiny_studio.train_and_register(TrainRequest(model="tiny-bert", task="empathy", policy="gold+ratings", name="r0"))
    req = TrainRequest(
        model="tiny-bert",
        task="empathy",
        policy="ratings",
        max_steps=2,
        max_length=32,
        batch_size=8,
        name="rated-rater",
        select_metric="loss",
        arch="cross",
        loss="kl",
    )
    estimate = tiny_studio.finetune.estimate(req)
    assert estimate["n_train"] == 24 and estimate["steps"] == 2 and estimate["estimated_seconds"] >= 0
    assert set(estimate["phases"]) == {"loading", "training", "evaluating", "testing"}
    manifest = tiny_studio.train_and_register(req)
    assert manifest["policy"] == "ratings" and manifest["dataset"] == "ratings"
    assert (
        manifest["hyperparameters"]["select_metric"] == "loss"
        and manifest["rater"]["arch"] == "cross"
        and manifest["rater"]["loss"] == "kl"
    )
    assert manifest["hyperparameters"]["max_length"] == 32 and manifest["hyperparameters"]["learning_rate"] == 5e-5  # the rater preset
    assert (manifest["n_train"], manifest["n_val"], manifest["n_test"]) == (24, 3, 3)
    assert "rated-rater" in tiny_studio.rater_choices()


@pytest.mark.skipif(not EPITOME.exists(), reason="EPITOME is not beside the project (../shared/data)")
def test_rated_epitome_test_pairs_never_train_and_rated_train_pairs_take_their_raters_levels(tiny_studio):
    from empathy_studio.training.rater_data import rater_splits
    from empathy_studio.training.request import TrainRequest

    root = tiny_studio.annotation.login("root", "pw")
    tiny_studio.create_campaign(root, CampaignRequest(name="ep", kind="empathy", source="split", split="all", k=1, limit=4000))
    cid = tiny_studio.store.campaign("ep")["id"]
    gold = rater_splits(tiny_studio.sources)
    test_pair, train_pair = gold["test"][0], gold["train"][0]
    flipped = tuple(2 - v for v in train_pair.levels)
    tiny_studio.store.rate_empathy("ana", f"epitome:{test_pair.pair_id}", {ER: 0, IP: 0, EX: 0}, cid)
    tiny_studio.store.rate_empathy("ana", f"epitome:{train_pair.pair_id}", dict(zip(EPITOME_MECHANISMS, flipped)), cid)
    tset = tiny_studio.finetune.training_set(TrainRequest(model="minilm", task="empathy", policy="gold+ratings"))
    splits, held = tset.splits, tset.notes["rated_pairs_held_out"]
    assert held == 1 and len(splits["train"]) == len(gold["train"]) and splits["test"] == gold["test"]
    assert next(p for p in splits["train"] if p.pair_id == train_pair.pair_id).levels == flipped
    tset = tiny_studio.finetune.training_set(TrainRequest(model="minilm", task="empathy", policy="ratings"))
    only, held = tset.splits, tset.notes["rated_pairs_held_out"]
    assert held == 1 and [p.pair_id for p in only["train"]] == [train_pair.pair_id]


def test_the_command_line_creates_an_empathy_campaign_imports_its_ratings_and_reads_agreement(tmp_path, capsys):
    from empathy_studio.cli import main

    where = ["--db", str(tmp_path / "db.sqlite"), "--models-dir", str(tmp_path / "models")]
    pairs = pairs_csv(tmp_path / "pairs.csv", n=6, gold=False)
    assert (
        main(["campaigns", "create", "--name", "cli-e", "--kind", "empathy", "--source", "file", "--file", str(pairs), "--k", "2", *where])
        == 0
    )
    assert main(["campaigns", "list", *where]) == 0
    assert "cli-e" in capsys.readouterr().out
    rows = [f"{who},cli-e:p{i},{i % 3},{(i + (who == 'ben')) % 3},1,cli-e" for i in range(6) for who in ("ana", "ben")]
    (tmp_path / "r.csv").write_text(f"annotator,item_id,{ER},{IP},{EX},campaign\n" + "\n".join(rows) + "\nana,cli-e:p0,0,0,5,cli-e\n")
    assert main(["ratings", "import", "--file", str(tmp_path / "r.csv"), "--create-annotators", *where]) == 0
    out = capsys.readouterr().out
    assert "13 rows: 12 ok, 1 rejected, 12 written" in out and "row 13: explorations must be 0, 1 or 2, got 5" in out
    assert main(["ratings", "agreement", "--campaign", "cli-e", "--json", *where]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "empathy" and report[ER]["alpha_ordinal"] == pytest.approx(1.0) and report[IP]["alpha_ordinal"] < 1
    assert (
        main(
            ["campaigns", "create", "--name", "cli-bad", "--kind", "empathy", "--source", "file", "--file", str(tmp_path / "r.csv"), *where]
        )
        == 2
    )
    assert "missing column post, response" in capsys.readouterr().err


def test_the_raters_presets_and_the_seekers_do_not_mix():
    from empathy_studio.errors import ConfigError
    from empathy_studio.training.request import TrainRequest

    with pytest.raises(ConfigError, match="preset rater is for --task empathy, not for --task emotion-intensity"):
        TrainRequest(model="minilm", preset="rater")
    with pytest.raises(
        ConfigError, match="preset quick is for --task emotion-intensity, emotion, stressor or epitome-er, not for --task empathy"
    ):
        TrainRequest(model="minilm", task="empathy", preset="quick")
    with pytest.raises(ConfigError, match="select_metric must be one of"):
        TrainRequest(model="minilm", task="empathy", select_metric="f2")
