"""The inbox scan and its sidecars (issue 14 item 12): a bad sidecar fails only its own file,
with a reason naming it; sidecars are small, plain and alias-free; nothing outside the inbox is
read; a refused sidecar is read once, then waits for a change."""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

import pytest

from cdp_pipeline import sidecars
from cdp_pipeline.customer_import import CUSTOMERS
from cdp_pipeline.inbox import LINK_REASON, ReadyFile, locate_import, scan_inbox
from cdp_pipeline.settings import CdpPaths, CustomerImportSettings, TmallImportSettings
from cdp_pipeline.sidecars import (
    MAX_SIDECAR_BYTES,
    SidecarError,
    TmallSidecar,
    customer_sidecar,
    sidecars_beside,
    tmall_sidecar,
)
from cdp_pipeline.tmall_import import tmall_pairs
from samples.tmall import SUCCESS, random_orders, write_tmall_pair

CSV = "姓名,手机号码\n张三,13800138000\n"


def alias_bomb() -> str:
    """Nine levels of nine aliases to the level below: under 300 bytes, 9**9 leaves once walked."""
    levels = ["&a [" + ",".join("x" * 9) + "]"]
    levels += [f"&{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
    return "tags: [" + ", ".join(levels) + "]\n"


def two_looks(folder: Path, read=customer_sidecar):
    """The scan a sensor makes on its second tick (the first only notes sizes and mtimes)."""
    return scan_inbox(folder, scan_inbox(folder, {}, read).cursor, read)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "cdp" / "inbox" / "customers"
    folder.mkdir(parents=True)
    return folder


BAD_SIDECARS = {
    "a list": (".yaml", b"- vip\n- new\n", "not a list"),
    "a scalar": (".yaml", b"just some words\n", "not a single value"),
    "an unknown key": (".yaml", b"tagz: [vip]\n", "unknown setting 'tagz'"),
    "tags of the wrong type": (".yaml", b"tags: 5\n", "tags must be a tag or a list of tags"),
    "a tag of the wrong type": (".yaml", b"tags: [vip, 2024]\n", "tags must be a tag or a list of tags"),
    "a group of the wrong type": (".yaml", b"group: [a, b]\n", "group must be text"),
    "a blank group": (".yaml", b"group: '  '\n", "group is blank"),
    "an unknown mode": (".yaml", b"mode: turbo\n", "mode must be one of normal, fast"),
    "an unknown encoding": (".yaml", b"encoding: klingon\n", "encoding must be one of auto, utf-8, gb18030, big5"),
    "an unknown source policy": (".yaml", b"source_policy: sometimes\n", "source_policy must be one of new-only, all"),
    "non-UTF-8 text": (".yaml", "tags: [贵宾]\n".encode("gb18030"), "not UTF-8 text"),
    "broken YAML": (".yaml", b"tags: [vip\n", "not valid YAML"),
    "an alias": (".yaml", b"group: &g shop\ncampaign: *g\n", "YAML anchor"),
    "an alias alone": (".yaml", b"campaign: *g\n", "YAML alias"),
    "a tag": (".yaml", b"group: !!python/object:os.system echo\n", "YAML tag"),
    "a key twice": (".yaml", b"tags: a\ntags: b\n", "'tags' twice"),
    "a key twice, spelt two ways": (".yaml", b"source-policy: all\nsource_policy: all\n", "source_policy twice"),
    "two documents": (".yaml", b"tags: a\n---\ntags: b\n", "not valid YAML"),
    "deep nesting": (".yaml", b"tags: " + b"[" * 20000, "nested too deeply"),
    "too large": (".yaml", b"tags: [" + b"a," * (MAX_SIDECAR_BYTES // 2) + b"a]\n", "larger than 64 KiB"),
    "a JSON list": (".json", b'["vip"]', "not a list"),
    "broken JSON": (".json", b'{"tags": ["vip"]', "not valid JSON"),
    "a JSON key twice": (".json", b'{"group": "a", "group": "b"}', "twice"),
    "a JSON NaN": (".json", b'{"mode": NaN}', "mode must be one of"),
}


@pytest.mark.parametrize("case", BAD_SIDECARS)
def test_bad_sidecar_fails_only_its_own_file_with_a_reason_naming_it(inbox: Path, case: str) -> None:
    """Issue 14 item 12: each malformed sidecar raises SidecarError naming it; in a scan, its file
    is held with that reason while the good file beside it is ready."""
    suffix, body, words = BAD_SIDECARS[case]
    (inbox / "good.csv").write_text(CSV, encoding="utf-8")
    (inbox / "good.csv.yaml").write_text("tags: [vip]\n", encoding="utf-8")
    bad = inbox / "bad.csv"
    bad.write_text(CSV.replace("张三", "李四"), encoding="utf-8")
    (inbox / f"bad.csv{suffix}").write_bytes(body)
    with pytest.raises(SidecarError) as refused:
        customer_sidecar(bad)
    assert str(refused.value).startswith(f"bad.csv{suffix}: ") and words in str(refused.value)
    scan = two_looks(inbox)
    assert [(f.path.name, f.settings.tags) for f in scan.ready] == [("good.csv", ("vip",))]
    assert [(h.path, h.reason) for h in scan.held] == [(bad, str(refused.value))]
    assert str(scan.held[0]) == f"bad.csv is not imported: {refused.value}"


def test_good_sidecars_give_every_setting(inbox: Path) -> None:
    """Issue 14 item 12: the known settings, in YAML (either key spelling, an empty value, a BOM)
    and JSON."""
    path = inbox / "a.csv"
    (inbox / "a.csv.yaml").write_bytes(
        "\ufefftags: vip\ngroup: '2024'\ninitial-source: 门店\ninitial_source_content:\ncampaign: 双11\n"
        "source-policy: all\nmode: fast\nencoding: gb18030\nsheet: 会员\n".encode()
    )
    assert customer_sidecar(path) == CustomerImportSettings(
        tags=("vip",),
        group="2024",
        initial_source="门店",
        campaign="双11",
        source_policy="all",
        mode="fast",
        encoding="gb18030",
        sheet="会员",
    )
    (inbox / "a.csv.yaml").unlink()
    (inbox / "a.csv.json").write_text('{"tags": ["a", "b"], "mode": "normal"}', encoding="utf-8")
    assert customer_sidecar(path) == CustomerImportSettings(tags=("a", "b"))
    (inbox / "a.csv.yml").write_text("tags: c\n", encoding="utf-8")
    with pytest.raises(SidecarError, match="several sidecars"):
        customer_sidecar(path)
    assert customer_sidecar(inbox / "no-sidecar.csv") == CustomerImportSettings()


@pytest.mark.parametrize("items", ["../x.csv", "/etc/passwd", "sub/x.csv", "..\\x.csv", "..", ""])
def test_tmall_sidecar_items_must_name_a_file_in_the_same_inbox(tmp_path: Path, items: str) -> None:
    """Issue 14 item 12: ``items`` is a plain file name beside the order report, never a path."""
    orders = tmp_path / "ExportOrderList201801010000.csv"
    (tmp_path / f"{orders.name}.yaml").write_text(f"items: '{items}'\n", encoding="utf-8")
    with pytest.raises(SidecarError, match=f"^{orders.name}.yaml: items "):
        tmall_sidecar(orders)


def test_tmall_sidecar_takes_only_the_tmall_settings(tmp_path: Path) -> None:
    """Issue 14 item 12: a customer-import setting beside an order report is refused by name."""
    orders = tmp_path / "ExportOrderList201801010000.csv"
    sidecar = tmp_path / f"{orders.name}.yaml"
    sidecar.write_text("mode: fast\n", encoding="utf-8")
    with pytest.raises(SidecarError, match="unknown setting 'mode'"):
        tmall_sidecar(orders)
    sidecar.write_text("tags: [tm]\ngroup: buyers\nencoding: utf-8\nitems: other.csv\n", encoding="utf-8")
    assert tmall_sidecar(orders) == TmallSidecar(TmallImportSettings(("tm",), "buyers", "utf-8"), "other.csv")


def test_alias_bomb_sidecar_is_refused_at_once_in_little_memory(inbox: Path) -> None:
    """Issue 14 item 12: a 300-byte alias bomb (before: minutes, memory growing) is refused at
    its first anchor, in well under a second and a few megabytes."""
    bomb = alias_bomb()
    assert len(bomb) < 600
    (inbox / "a.csv").write_text(CSV, encoding="utf-8")
    (inbox / "a.csv.yaml").write_text(bomb, encoding="utf-8")
    tracemalloc.start()
    started = time.monotonic()
    try:
        scan = two_looks(inbox)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 5 and peak < 20 << 20
    assert scan.ready == [] and "a.csv.yaml: uses a YAML anchor" in scan.held[0].reason


def test_a_sidecar_that_is_a_pipe_does_not_block_the_scan(inbox: Path) -> None:
    """Issue 14 item 12: a FIFO named like a sidecar is refused without being opened for a wait."""
    (inbox / "a.csv").write_text(CSV, encoding="utf-8")
    os.mkfifo(inbox / "a.csv.yaml")
    scan = two_looks(inbox)
    assert scan.ready == [] and scan.held[0].reason == "a.csv.yaml: is not a regular file"


def test_links_in_the_inbox_are_never_followed(inbox: Path, tmp_path: Path) -> None:
    """Issue 14 item 12: a link to a file outside, a sidecar linked to a secret file and a linked
    folder are held (or skipped), never read; nothing of the secret reaches the reason. Before, the
    outside file was imported and archived, and the tick error quoted a line of the secret."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "their.csv").write_text(CSV.replace("张三", "赵六"), encoding="utf-8")
    secret = outside / "secret.txt"
    secret.write_text("root_password: hunter2\nthis line: is: secret\n", encoding="utf-8")
    (inbox / "linked.csv").symlink_to(outside / "their.csv")
    (inbox / "dropped.csv").write_text(CSV, encoding="utf-8")
    (inbox / "dropped.csv.yaml").symlink_to(secret)
    (inbox / "folder").symlink_to(outside, target_is_directory=True)
    (inbox / "real-folder").mkdir()
    (inbox / "real-folder" / "inside.csv").write_text(CSV, encoding="utf-8")
    (inbox / "good.csv").write_text(CSV.replace("张三", "王五"), encoding="utf-8")
    scan = two_looks(inbox)
    assert [f.path.name for f in scan.ready] == ["good.csv"]
    held = {h.path.name: h.reason for h in scan.held}
    assert held == {
        "dropped.csv": "dropped.csv.yaml: is a symbolic link; a sidecar must be a file in the inbox itself",
        "folder": LINK_REASON,
        "linked.csv": LINK_REASON,
    }
    assert "hunter2" not in str(held) and "secret" not in str(held)
    # the partition lookup of a run does not follow links either
    paths = CdpPaths(tmp_path / "cdp")
    from cdp_pipeline.batches import file_partition_key, file_sha256

    assert locate_import(paths, CUSTOMERS, file_partition_key("their.csv", file_sha256(outside / "their.csv"))) is None
    assert sidecars_beside(inbox / "dropped.csv") == []


def test_a_refused_sidecar_is_read_once_then_waits_for_a_change(inbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14 item 12: the file is not retried every tick: the cursor keeps the reason with
    the sidecar's look; once the sidecar is fixed, the file is ready two looks later."""
    reads = []
    real = sidecars.read_sidecar_file
    monkeypatch.setattr(sidecars, "read_sidecar_file", lambda path: reads.append(path.name) or real(path))
    (inbox / "a.csv").write_text(CSV, encoding="utf-8")
    sidecar = inbox / "a.csv.yaml"
    sidecar.write_text("tagz: vip\n", encoding="utf-8")
    scan = two_looks(inbox)
    for _ in range(3):
        scan = scan_inbox(inbox, scan.cursor)
        assert scan.ready == [] and "unknown setting 'tagz'" in scan.held[0].reason
    assert reads == ["a.csv.yaml"]
    sidecar.write_text("tags: vip\n", encoding="utf-8")
    os.utime(sidecar, ns=(time.time_ns(), time.time_ns() + 10**9))
    scan = scan_inbox(inbox, scan.cursor)
    assert scan.ready == [] and scan.held == []  # changed: seen once more before it counts
    scan = scan_inbox(inbox, scan.cursor)
    assert [(f.path.name, f.settings.tags) for f in scan.ready] == [("a.csv", ("vip",))]


def test_a_file_is_ready_only_once_its_sidecar_held_still(inbox: Path) -> None:
    """Issue 14 item 12: a sidecar still being written is not read half-way: the file waits."""
    (inbox / "a.csv").write_text(CSV, encoding="utf-8")
    first = scan_inbox(inbox, {})
    sidecar = inbox / "a.csv.yaml"
    sidecar.write_text("tags: [vip\n", encoding="utf-8")  # half written
    second = scan_inbox(inbox, first.cursor)
    assert second.ready == [] and second.held == []


def test_tmall_pairs_keep_to_the_sidecar_and_hold_a_sidecar_beside_the_item_report(tmp_path: Path) -> None:
    """Issue 14 item 12: a report whose sidecar names its item report waits for that one; a
    sidecar beside an item report holds the pair (its settings would be ignored)."""
    inbox = tmp_path / "tmall"
    first = write_tmall_pair(inbox, random_orders(3, seed=1, statuses=[SUCCESS]), stamp="201801010000")
    second = write_tmall_pair(inbox, random_orders(3, seed=2, statuses=[SUCCESS]), stamp="201802010000")
    (inbox / f"{first[0].name}.yaml").write_text("items: not-yet-here.csv\n", encoding="utf-8")
    (inbox / f"{second[1].name}.yaml").write_text("tags: [x]\n", encoding="utf-8")
    scan = two_looks(inbox, tmall_sidecar)
    pairs, alone, held = tmall_pairs(scan.ready)
    assert pairs == []
    assert alone == sorted([first[0], first[1]])
    assert [h.path for h in held] == list(second)
    assert held[0].reason.startswith(f"{second[1].name}.yaml: a pair's settings go in its order report's sidecar")
    # ReadyFiles built without a sidecar reading pair by name, with the default settings
    plain = [ReadyFile(p, "0" * 64) for p in first]
    assert tmall_pairs(plain)[0] == [((plain[0], plain[1]), TmallImportSettings())]
