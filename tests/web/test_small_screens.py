"""Pages on a phone (390x844): no sideways scroll on any page, wide tables scroll inside their
card, the header wraps and keeps "Sign out"; WCAG AA contrast of badges and muted text,
computed from the stylesheet; a favicon; times with their zone (issue 14, item 7)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labelport.service import Service
from labelport.web import signin_url
from media_factory import make_mp4, make_png
from signin_helpers import redeem_link
from web_helpers import import_upload

STYLE = Path(__file__).parents[2] / "src" / "labelport" / "web" / "static" / "style.css"
PHONE = {"width": 390, "height": 844}
LONG = "a-rather-long-file-name-that-a-camera-gave-this-picture-2026-11-29-13-15-00.png"


@pytest.fixture(scope="module")
def seeded(service: Service, media_dir: Path) -> dict[str, Any]:
    """A project with a long name, an image import that worked, one that failed (a box
    outside the image), and a video: every kind of page has something to show."""
    project = service.create_project("A project whose name is longer than a phone is wide")
    service.create_labels(project["id"], ["cat", "a-label-with-a-very-long-name-indeed"])
    image = make_png(media_dir / LONG, 64, 48)
    box = {"type": "box", "name": "cat", "x_min": 1, "y_min": 2, "x_max": 30, "y_max": 40}
    ok = import_upload(
        service, project["id"], image, {"media": {"type": "image"}, "instance_list": [box]}
    )
    failed = import_upload(
        service,
        project["id"],
        image,
        {"media": {"type": "image"}, "instance_list": [{**box, "x_max": 9999}]},
    )
    video = make_mp4(media_dir / "clip.mp4", frames=5, fps=5, width=64, height=48)
    clip = import_upload(
        service,
        project["id"],
        video,
        {"media": {"type": "video"}, "frame_packet_map": {"0": [box], "3": [box]}},
    )
    assert (ok["status"], failed["status"], clip["status"]) == ("success", "failed", "success")
    return {"project": project, "ok": ok, "failed": failed, "clip": clip}


def pages(seeded: dict[str, Any]) -> list[str]:
    p = f"/ui/p/{seeded['project']['string_id']}"
    return [
        "/ui/",
        p,
        f"{p}/imports",
        f"{p}/imports?status=failed",
        f"{p}/imports/{seeded['ok']['id']}",
        f"{p}/imports/{seeded['failed']['id']}",
        f"{p}/files/{seeded['ok']['file_id']}",
        f"{p}/files/{seeded['clip']['file_id']}",
        "/ui/p/no-such-project",
    ]


@pytest.fixture
def phone(browser: Any, app: Any, base_url: str) -> Iterator[Any]:
    context = browser.new_context(viewport=PHONE)  # not is_mobile: it would zoom out to fit
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(signin_url(app, base_url))
    tab.get_by_role("button", name="Continue").click()  # a link's GET only asks to confirm
    tab.wait_for_url("**/ui/**")
    try:
        yield tab
    finally:
        context.close()
    assert not errors, errors


def overflow(tab: Any) -> dict[str, Any]:
    return tab.evaluate(
        """() => {
            const wide = [...document.querySelectorAll('body *')].filter((e) => {
                const r = e.getBoundingClientRect();
                return r.width > 0 && r.right > innerWidth + 1 && !e.closest('table.grid');
            }).slice(0, 5).map((e) => `${e.tagName}.${e.className} ${e.textContent.slice(0, 40)}`);
            return {scroll: document.scrollingElement.scrollWidth, inner: innerWidth, wide};
        }"""
    )


def test_every_page_fits_a_phone_without_sideways_scroll(
    phone: Any, base_url: str, seeded: dict[str, Any]
) -> None:
    for path in pages(seeded):
        phone.goto(base_url + path)
        phone.wait_for_load_state("load")
        seen = overflow(phone)
        assert seen["inner"] == PHONE["width"]
        assert seen["scroll"] <= seen["inner"], f"{path}: {seen}"
        sign_out = phone.get_by_role("button", name="Sign out")
        assert sign_out.is_visible(), path
        box = sign_out.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]


def test_the_signin_page_and_the_docs_fit_too(browser: Any, base_url: str) -> None:
    context = browser.new_context(viewport=PHONE)
    tab = context.new_page()
    try:
        for path in ("/ui/signin", "/docs"):
            tab.goto(base_url + path)
            tab.wait_for_load_state("load")
            if path == "/docs":
                tab.wait_for_selector(".opblock")
            seen = overflow(tab)
            assert seen["scroll"] <= seen["inner"], f"{path}: {seen}"
    finally:
        context.close()


def test_wide_tables_scroll_inside_their_card(
    phone: Any, base_url: str, seeded: dict[str, Any]
) -> None:
    phone.goto(f"{base_url}/ui/p/{seeded['project']['string_id']}/imports")
    table = phone.locator("table.grid.imports")
    sizes = table.evaluate(
        "(t) => ({scroll: t.scrollWidth, client: t.clientWidth,"
        " overflow: getComputedStyle(t).overflowX, right: t.getBoundingClientRect().right})"
    )
    assert sizes["scroll"] > sizes["client"], sizes  # more columns than a phone shows ...
    assert sizes["overflow"] == "auto" and sizes["right"] <= PHONE["width"], sizes  # ... inside
    table.evaluate("(t) => { t.scrollLeft = 10000; }")
    assert table.evaluate("(t) => t.scrollLeft") > 0
    assert phone.evaluate("() => scrollX") == 0


def test_the_header_wraps_on_a_phone_and_not_on_a_desktop(
    phone: Any, page: Any, base_url: str, seeded: dict[str, Any]
) -> None:
    path = f"{base_url}/ui/p/{seeded['project']['string_id']}/imports"
    heights = []
    for tab in (phone, page):
        tab.goto(path)
        heights.append(tab.locator("header.topbar").evaluate("(h) => h.offsetHeight"))
        assert tab.get_by_role("link", name="Imports").is_visible()
    on_phone, on_desktop = heights
    assert on_desktop == 52 and on_phone > on_desktop, heights


# --- colours --------------------------------------------------------------------------------


def _rules(css: str) -> list[tuple[str, dict[str, str]]]:
    """(selector, declarations) of every innermost rule; comments dropped."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    out = []
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        decls = {}
        for decl in body.split(";"):
            if ":" in decl:
                name, value = decl.split(":", 1)
                decls[name.strip()] = value.strip()
        out.append((" ".join(selector.split()), decls))
    return out


def _colour(value: str, variables: dict[str, str]) -> str:
    value = re.sub(r"var\((--[\w-]+)\)", lambda m: variables[m.group(1)], value)
    found = re.search(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b", value)
    assert found, f"not a hex colour: {value}"
    return found.group(0)


def _luminance(hex_colour: str) -> float:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    channels = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_helper_matches_known_ratios() -> None:
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#777777", "#ffffff"), 2) == 4.48  # the classic just-fails grey
    assert contrast("#ffffff", "#ffffff") == 1.0


def test_badges_and_muted_text_meet_wcag_aa() -> None:
    rules = _rules(STYLE.read_text())
    variables = {
        name: value
        for selector, decls in rules
        if selector == ":root"
        for name, value in decls.items()
        if name.startswith("--")
    }
    by_selector: dict[str, dict[str, str]] = {}
    for selector, decls in rules:
        for one in selector.split(","):
            by_selector.setdefault(one.strip(), {}).update(decls)

    def colour_of(selector: str, prop: str = "color") -> str:
        decls = by_selector[selector]
        value = decls.get(prop) or (decls.get("background") if prop == "background-color" else None)
        assert value, f"{selector} has no {prop}"
        return _colour(value, variables)

    page_bg, card_bg = variables["--bg"], variables["--card"]
    row_hover = colour_of("table.grid tbody tr:hover", "background-color")
    surfaces = {"page": page_bg, "card": card_bg, "hovered row": row_hover}
    pairs: list[tuple[str, str, str]] = []
    for selector in (".muted", ".when", "table.grid th", "dl.facts dt", ".pager .off", ".bad",
                     ".note", "a"):  # fmt: skip
        for where, bg in surfaces.items():
            pairs.append((f"{selector} on the {where}", colour_of(selector), bg))
    badges = [s for s in by_selector if s.startswith(".badge")]
    assert len(badges) >= 6, badges
    default_bg = colour_of(".badge", "background-color")
    for selector in badges:
        decls = by_selector[selector]
        fg = _colour(decls.get("color") or by_selector[".badge"]["color"], variables)
        bg_value = decls.get("background") or decls.get("background-color")
        bg = _colour(bg_value, variables) if bg_value else default_bg
        pairs.append((selector, fg, bg))
    pairs.append((".who in the header", colour_of(".who"), colour_of(".topbar", "background")))
    pairs.append((".alert", colour_of(".alert"), colour_of(".alert", "background")))
    pairs.append(("button.primary", colour_of("button.primary"), variables["--accent"]))
    low = [(what, fg, bg, round(contrast(fg, bg), 2)) for what, fg, bg in pairs
           if contrast(fg, bg) < 4.5]  # fmt: skip
    assert not low, f"under WCAG AA 4.5:1: {low}"


# --- favicon and times ----------------------------------------------------------------------


def test_pages_have_a_favicon_and_times_say_their_zone(app: Any, seeded: dict[str, Any]) -> None:
    with TestClient(app, follow_redirects=True) as client:
        redeem_link(client, signin_url(app, "http://testserver"))
        page = client.get(f"/ui/p/{seeded['project']['string_id']}/imports")
        assert page.status_code == 200
        icon = re.search(r'<link rel="icon" href="([^"]+)"', page.text)
        assert icon, "no favicon link"
        served = client.get(icon.group(1))
        assert served.status_code == 200 and served.headers["content-type"].startswith("image/")
        times = re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d( UTC)?", page.text)
        assert times and all(zone == " UTC" for zone in times), times


def test_every_page_a_link_leads_to_fits_a_phone(
    phone: Any, base_url: str, seeded: dict[str, Any]
) -> None:
    """Pages reached by following the links from the projects page (one of each kind: ids
    and page numbers are folded), so a page added later is measured too."""
    start = f"/ui/p/{seeded['project']['string_id']}"
    queue, seen_kinds, measured = ["/ui/", start, f"{start}/runs"], set(), []
    while queue and len(measured) < 40:
        path = queue.pop(0)
        kind = re.sub(r"\d+", "N", path.split("#")[0])
        if kind in seen_kinds:
            continue
        seen_kinds.add(kind)
        phone.goto(base_url + path)
        phone.wait_for_load_state("load")
        if "/signin" in phone.url:
            continue
        seen = overflow(phone)
        assert seen["scroll"] <= seen["inner"], f"{path}: {seen}"
        measured.append(path)
        links = phone.eval_on_selector_all(
            "a[href^='/ui/']", "(links) => links.map((a) => a.getAttribute('href'))"
        )
        skip = ("/media", ".json", ".jpg", "/signout", "/static/")
        queue += [h for h in links if not any(s in h for s in skip)]
    kinds = {re.sub(r"\d+", "N", p) for p in measured}
    assert {"/ui/", start, f"{start}/imports", f"{start}/imports/N", f"{start}/files/N"} <= kinds
