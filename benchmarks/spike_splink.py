"""Spike for #25, not project code: splink 4 (DuckDB) untuned, on a demo whose planted duplicates
are made hard (phone, e-mail and credit code removed), then one pattern of the issue on top.

    python3 -m venv /tmp/splinkvenv && /tmp/splinkvenv/bin/pip install splink==4.0.17 python-calamine
    cd <a folder with config.toml> && sheetcrm demo --rows 2000 --today 2026-11-22 --seed 3
    /tmp/splinkvenv/bin/python benchmarks/spike_splink.py [none|address_blank|other_contact|no_city|room]

Prints pair precision and recall against data/customers.truth.csv, and the seconds. Figures are in
the session note of 2026-12-01 (issue #25)."""

import csv
import random
import re
import sys
import time
import unicodedata

import pandas as pd
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from python_calamine import CalamineWorkbook
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

wb = CalamineWorkbook.from_path("data/customers.xlsx")
rows = wb.get_sheet_by_name("客户信息").to_python()
head = [str(h).lstrip("*") for h in rows[0]]
df = pd.DataFrame(rows[1:], columns=head)
col = {
    "客户ID": "id",
    "客户名称": "name",
    "联系人": "contact",
    "联系电话": "phone",
    "电子邮箱": "email",
    "地址": "address",
    "统一社会信用代码": "code",
    "客户类型": "ctype",
}
df = df[list(col)].rename(columns=col).astype(str)
truth = [
    r
    for r in csv.DictReader(open("data/customers.truth.csv", encoding="utf-8"))
    if r["kind"] == "duplicate"
]
pairs = {tuple(sorted((t["record_id"], t["detail"]))) for t in truth}
dups = {t["record_id"] for t in truth}
pattern = sys.argv[1] if len(sys.argv) > 1 else "none"
rng = random.Random(1)
for i in df.index[df["id"].isin(dups)]:
    df.loc[i, ["phone", "email", "code"]] = ""
    if pattern == "address_blank":
        df.loc[i, "address"] = ""
    elif pattern == "other_contact":
        df.loc[i, "contact"] = rng.choice(["王强", "李娜", "张敏", "刘洋", "陈杰"])
    elif pattern == "no_city":
        df.loc[i, "address"] = re.sub(r"^.{2,3}?[省市]", "", df.loc[i, "address"])
    elif pattern == "room":
        df.loc[i, "address"] = df.loc[i, "address"] + "3楼301室"

LEGAL = r"(股份有限公司|有限责任公司|有限公司|集团|公司)$"


def norm_name(s):
    s = unicodedata.normalize("NFKC", s).replace(" ", "")
    s = re.sub(r"[（(][^）)]*[）)]", "", s)
    return re.sub(LEGAL, "", s)


def norm_addr(s):
    s = unicodedata.normalize("NFKC", s).replace(" ", "")
    s = re.sub(r"^.{2,3}?省", "", s)
    s = re.sub(r"^.{2,3}?市", "", s)
    return re.sub(r"\d+楼.*$|\d+室$", "", s)


df["name_n"] = df["name"].map(norm_name)
df["addr_n"] = df["address"].map(norm_addr)
df["phone_n"] = df["phone"].map(lambda s: re.sub(r"\D", "", unicodedata.normalize("NFKC", s))[-11:])
for c in ("name_n", "addr_n", "phone_n", "email", "code", "contact"):
    df[c] = df[c].replace({"": None, "None": None})
df["unique_id"] = df["id"]
started = time.perf_counter()
settings = SettingsCreator(
    link_type="dedupe_only",
    comparisons=[
        cl.JaroWinklerAtThresholds("name_n", [0.95, 0.85]).configure(
            term_frequency_adjustments=True
        ),
        cl.JaroWinklerAtThresholds("addr_n", [0.95, 0.8]),
        cl.CustomComparison(
            output_column_name="contact",
            comparison_levels=[
                cll.NullLevel("contact"),
                cll.CustomLevel(
                    "ctype_l = '个人客户'", label_for_charts="person: same as name"
                ).configure(is_null_level=True),
                cll.ExactMatchLevel("contact"),
                cll.ElseLevel(),
            ],
        ),
        cl.ExactMatch("phone_n"),
        cl.ExactMatch("email"),
        cl.ExactMatch("code"),
    ],
    blocking_rules_to_generate_predictions=[
        block_on("phone_n"),
        block_on("email"),
        block_on("code"),
        block_on("substr(name_n, 1, 2)"),
        block_on("contact"),
        block_on("substr(addr_n, 1, 4)"),
    ],
    retain_intermediate_calculation_columns=False,
    retain_matching_columns=True,
)
linker = Linker(df, settings, db_api=DuckDBAPI())
linker.training.estimate_probability_two_random_records_match([block_on("name_n")], recall=0.7)
linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
linker.training.estimate_parameters_using_expectation_maximisation(block_on("substr(name_n, 1, 2)"))
linker.training.estimate_parameters_using_expectation_maximisation(block_on("substr(addr_n, 1, 4)"))
pred = linker.inference.predict(threshold_match_probability=0.9).as_pandas_dataframe()
took = time.perf_counter() - started
found = {
    tuple(sorted((a, b))) for a, b in zip(pred["unique_id_l"], pred["unique_id_r"], strict=True)
}
tp = len(found & pairs)
print(
    f"{pattern}: pairs {len(pairs)} found {len(found)} tp {tp} precision {tp / max(len(found), 1):.3f} "
    f"recall {tp / len(pairs):.3f} in {took:.1f} s"
)
