"""Independent reference for crate/src/dissect/replicate.rs: CLIP-Dissect's Table 2 and Table 3 metrics on tiny
hand-made cases, written as the notebooks compute them (Trustworthy-ML-Lab/CLIP-dissect@21e7697:
experiments/table2_quantitative_rn18.ipynb cells 5, 7, 12; table3_similarity_comparison.ipynb cell 8;
data_utils.get_places_id_to_broden_label; utils.get_cos_similarity), with numpy in place of torch and
pandas. torch.topk is a stable descending argsort here (the cases have no ties).

    python tests/reference/replication_reference.py   # writes tests/fixtures/dissect/replication_cases.json
"""

import csv
import io
import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "dissect" / "replication_cases.json"


# ---- data_utils.get_places_id_to_broden_label, reading strings instead of files
def get_places_id_to_broden_label(categories_text, c_scene_csv):
    places365_classes = categories_text.split("\n")
    names = [row["name"] for row in csv.DictReader(io.StringIO(c_scene_csv))]
    id_to_broden_label = {}
    for i, cls in enumerate(places365_classes):
        name = cls[3:].split(" ")[0]
        name = name.replace("/", "-")
        found = name + "-s" in names
        id_to_broden_label[i] = name.replace("-", "/") + "-s" if found else None
    return id_to_broden_label


# ---- table2 cell 5 (concept_set = data/broden_labels_clean.txt)
def process_word(word):
    if word.endswith("-s"):
        word = word[:-2]
    return word.replace("_", " ")


# ---- table2 cell 7
def table2_topk_acc(similarities, words, id_to_label, k):
    correct = 0
    total = 0
    for orig_id in range(len(similarities)):
        if id_to_label[orig_id] is None:
            continue
        ids = np.argsort(-similarities[orig_id], kind="stable")[:k]
        for idx in ids[:k]:
            if process_word(words[idx]) == process_word(id_to_label[orig_id]):
                correct += 1
                continue
        total += 1
    return (correct / total) * 100


# ---- table3 cell 8 (over every unit)
def table3_topk_acc(sim, k):
    correct = 0
    n = len(sim)
    for orig_id in range(n):
        ids = np.argsort(-sim[orig_id], kind="stable")[:k]
        for idx in ids[:k]:
            correct += int(idx) == orig_id
    return (correct / n) * 100


# ---- utils.get_cos_similarity (CLIP half only), embeddings given per text
def clip_cos(preds, gt, embed):
    p = np.stack([embed[t] for t in preds]).astype(np.float64)
    g = np.stack([embed[t] for t in gt]).astype(np.float64)
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    return float(np.mean(np.sum(p * g, axis=1)))


# ---- chance levels as replicate.rs defines them: a random ranking of the concepts
def chance_topk(hit, n_units, n_words, truth, k):
    expected, total = 0.0, 0
    for u in range(n_units):
        if truth[u] is None:
            continue
        m = sum(hit(u, c) for c in range(n_words))
        expected += k * m / n_words
        total += 1
    return expected / total * 100


def chance_cos(words, gt, embed):
    e = np.stack([embed[w] for w in words]).astype(np.float64)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    mean = e.mean(axis=0)
    g = np.stack([embed[t] for t in gt]).astype(np.float64)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    return float(np.mean(g @ mean))


def embeddings(texts, rng, dim=8):
    out = {}
    for t in texts:
        if t not in out:
            v = rng.standard_normal(dim).astype(np.float32)
            out[t] = (v / np.linalg.norm(v)).astype(np.float32)
    return out


def table2_case(rng):
    categories = "\n".join(["/a/airfield 0", "/a/apartment_building/outdoor 1", "/b/bakery/shop 2", "/s/street 3",
                            "/b/beach 4", "/k/kitchen 5", "/a/alley 6"])
    c_scene = ("code,number,name,frequency,coverage\n1,101,airfield-s,10,1.0\n2,102,apartment_building-outdoor-s,4,1.0\n"
               "3,103,street-s,30,1.0\n4,104,beach-s,7,1.0\n5,105,\"kitchen-s\",9,1.0\n")
    words = ["street", "airfield", "apartment building-outdoor", "beach", "sky", "kitchen", "bakery-shop", "tree",
             "street", "grass"]
    sim = rng.standard_normal((7, len(words))).astype(np.float32)
    # Make some hits certain, including the repeated word "street" twice in unit 3's top 5.
    sim[0, 1] = 9.0
    sim[3, 0], sim[3, 8] = 9.0, 8.5
    sim[4, 3] = 3.0
    id_to_label = get_places_id_to_broden_label(categories, c_scene)
    cls_id_to_name = [(cls[3:]).split(" ")[0] for cls in categories.split("\n")]
    preds = [words[int(np.argmax(row))] for row in sim]
    embed = embeddings(words + cls_id_to_name, rng)
    truth = [id_to_label[i] for i in range(7)]
    hit = lambda u, c: process_word(words[c]) == process_word(truth[u])  # noqa: E731
    return {
        "protocol": "places_broden_scenes", "categories": categories, "c_scene_csv": c_scene, "words": words,
        "similarity": sim.tolist(), "embeddings": {k: v.tolist() for k, v in embed.items()},
        "truth": truth, "class_names": cls_id_to_name,
        "top1": table2_topk_acc(sim, words, id_to_label, 1), "top5": table2_topk_acc(sim, words, id_to_label, 5),
        "clip_similarity": clip_cos(preds, cls_id_to_name, embed),
        "chance_top1": chance_topk(hit, 7, len(words), truth, 1),
        "chance_top5": chance_topk(hit, 7, len(words), truth, 5),
        "chance_clip_similarity": chance_cos(words, cls_id_to_name, embed),
    }


def table3_case(rng):
    labels = ["tench", "goldfish", "great white shark", "tiger shark", "hammerhead", "electric ray", "stingray",
              "cock"]
    sim = rng.standard_normal((8, 8)).astype(np.float32)
    sim[2, 2] = 9.0
    sim[5, 5] = 9.0
    preds = [labels[int(np.argmax(row))] for row in sim]
    embed = embeddings(labels, rng)
    hit = lambda u, c: c == u  # noqa: E731
    return {
        "protocol": "class_index", "categories": "\n".join(labels), "c_scene_csv": None, "words": labels,
        "similarity": sim.tolist(), "embeddings": {k: v.tolist() for k, v in embed.items()},
        "truth": labels, "class_names": labels,
        "top1": table3_topk_acc(sim, 1), "top5": table3_topk_acc(sim, 5),
        "clip_similarity": clip_cos(preds, labels, embed),
        "chance_top1": chance_topk(hit, 8, 8, labels, 1), "chance_top5": chance_topk(hit, 8, 8, labels, 5),
        "chance_clip_similarity": chance_cos(labels, labels, embed),
    }


def main():
    rng = np.random.default_rng(20)
    cases = [table2_case(rng), table3_case(rng)]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"generator": "tests/reference/replication_reference.py", "cases": cases}, indent=1)
                   + "\n")
    for c in cases:
        print(c["protocol"], c["top1"], c["top5"], c["clip_similarity"], c["chance_top1"], c["chance_top5"])


if __name__ == "__main__":
    main()
