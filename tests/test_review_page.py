"""The review page in a browser: `llmops-wb serve` on loopback, headless Chromium driven by Playwright."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("no Chromium at /usr/bin/chromium (Debian's chromium package; `make test-tools` installs it)",
                allow_module_level=True)

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright  # noqa: E402
from test_serve import make_project, serve_env, serving  # noqa: E402

from llmops_wb.review import ReviewItem, ReviewStore  # noqa: E402
from llmops_wb.review_page import add_reviewer  # noqa: E402

VERDICTS = [{"guard": "length", "passed": True, "detail": "within 100 tokens", "score": None},
            {"guard": "toxicity", "passed": True, "detail": "below 0.7", "score": 0.031}]


@dataclass
class Site:
    url: str
    store: ReviewStore
    tokens: dict[str, str]

    def enqueue(self, name: str, output: str, confidence: float = 0.42, **kw) -> ReviewItem:
        return self.store.enqueue("greet", "v1.0.0", "fake", {"name": name}, output, confidence, VERDICTS,
                                  f"req-{name}", **kw)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    "The service on the fake model in a fresh project, its review queue open beside it, and five reviewers."
    project = make_project(tmp_path_factory.mktemp("review"), "[model]\ndefault = fake\n[prices]\nfake = 0, 0\n")
    store = ReviewStore(project / ".llmops_wb" / "review.db")  # the file [review] store names by default
    names = ("ana", "bo", "cy", "dee", "eve")
    tokens = {name: add_reviewer(project / ".llmops_wb" / "reviewers", name) for name in names}
    with serving(project, serve_env(project)) as port:
        yield Site(f"http://127.0.0.1:{port}", store, tokens)
    store.close()


@pytest.fixture(scope="module")
def browser() -> Browser:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def contexts(browser: Browser):
    "New browser contexts (separate cookies), with Playwright's context `options`, closed after the test."
    made: list[BrowserContext] = []
    def new(site: Site, **options) -> BrowserContext:
        made.append(browser.new_context(base_url=site.url, **options))
        return made[-1]
    yield new
    for context in made: context.close()


def signed_in(contexts, site: Site, name: str, **options) -> Page:
    "A page in a browser of its own (made with context `options`) where reviewer `name` signed in with the form."
    page = contexts(site, **options).new_page()
    page.goto("/review")
    page.fill("input[name=token]", site.tokens[name])
    with page.expect_navigation() as arrived: page.click("button:text('Sign in')")
    assert (arrived.value.status, page.locator("h1").inner_text()) == (200, "Review queue")
    return page


def submit(page: Page, selector: str) -> int:
    "Click `selector` and wait for the page it leads to; that page's status."
    with page.expect_navigation() as arrived: page.click(selector)
    return arrived.value.status


def test_without_signing_in_no_item_is_shown(site: Site, contexts):
    item = site.enqueue("Hidden", "Hello Hidden.")
    page = contexts(site).new_page()
    for path in ("/review", f"/review/items/{item.id}"):
        response = page.goto(path)
        text = page.content()
        assert response.status == 401 and page.locator("input[name=token]").count() == 1
        assert item.id[:12] not in text and "Hidden" not in text and "greet" not in text
    assert site.store.get(item.id).status == "pending"


def test_a_wrong_token_is_refused(site: Site, contexts):
    context = contexts(site)
    page = context.new_page()
    page.goto("/review")
    page.fill("input[name=token]", "not-" + site.tokens["ana"])
    assert submit(page, "button:text('Sign in')") == 401
    assert "That token is not a reviewer's" in page.inner_text("main")
    assert context.cookies() == [] and page.locator("table").count() == 0


def test_the_queue_lists_items_and_an_item_shows_what_to_decide_on(site: Site, contexts):
    item = site.enqueue("Grace", "Hello Grace, nice to meet you.", confidence=0.371)
    page = signed_in(contexts, site, "ana")
    [cookie] = page.context.cookies()
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/review")
    row = page.locator("table.items tr", has_text=item.id[:12])
    assert [row.locator("td").nth(i).inner_text() for i in range(6)] == [
        item.id[:12], "Hello Grace, nice to meet you.", "greet", "v1.0.0", "fake", "0.37"]

    with page.expect_navigation(): row.locator("a").click()
    facts = page.inner_text("dl.facts")
    for shown in ("pending", "greet", "v1.0.0", "fake", "0.37", "threshold: 0.80", "probability that the output is "
                  "acceptable", "req-Grace", item.id):
        assert shown in facts
    assert (page.inner_text("table.input th"), page.inner_text("table.input pre")) == ("name", "Grace")
    assert page.inner_text("pre.output") == "Hello Grace, nice to meet you."
    verdicts = page.inner_text("table.verdicts")
    assert all(s in verdicts for s in ("guard", "passed", "score", "length", "toxicity", "below 0.7", "0.031"))


def decide(page: Page, item: ReviewItem) -> None:
    "Open `item` and claim it."
    page.goto(f"/review/items/{item.id}")
    assert submit(page, "#claim button") == 200
    assert page.locator("#approve").count() == 1


def test_approve_edit_and_reject(site: Site, contexts):
    approved, edited, rejected = (site.enqueue(n, f"Hello {n}.") for n in ("Ann", "Ben", "Cat"))
    page = signed_in(contexts, site, "ana")

    decide(page, approved)
    assert submit(page, "#approve button") == 200
    assert page.inner_text("p.notice") == f"Item {approved.id[:12]} approved."  # on the next item's page
    done = site.store.get(approved.id)
    assert (done.status, done.reviewer, done.final_output) == ("approved", "ana", "Hello Ann.")

    decide(page, edited)
    assert page.input_value("#text") == "Hello Ben."
    page.fill("#text", "Hello, Ben!\nWelcome.")
    assert submit(page, "#edit button") == 200
    done = site.store.get(edited.id)
    assert (done.status, done.final_output) == ("edited", "Hello, Ben!\nWelcome.")

    decide(page, rejected)
    page.fill("input[name=reason]", "greets the wrong person")
    assert submit(page, "#reject button") == 200
    done = site.store.get(rejected.id)
    assert (done.status, done.reason, done.final_output) == ("rejected", "greets the wrong person", None)
    page.goto(f"/review/items/{rejected.id}")
    assert "greets the wrong person" in page.inner_text("main") and page.locator("#claim").count() == 0


def test_a_second_reviewer_cannot_decide_an_item_the_first_holds(site: Site, contexts):
    item = site.enqueue("Dan", "Hello Dan.")
    site.store.claim("bo", lease_s=3, item_id=item.id)  # Bo's claim, about to lapse
    bo = signed_in(contexts, site, "bo")
    bo.goto(f"/review/items/{item.id}")
    assert bo.locator("#approve").count() == 1  # Bo's page still offers him the decision
    time.sleep(3.2)

    ana = signed_in(contexts, site, "ana")
    decide(ana, item)  # the lapsed item is Ana's now
    held = site.store.get(item.id)
    assert submit(bo, "#approve button") == 409
    refusal = bo.inner_text("p.error")
    assert "is claimed by ana until" in refusal and "decide only the items you claimed" in refusal
    assert bo.inner_text("h1") == f"Item {item.id[:12]}" and "Held by ana until" in bo.inner_text("main")
    bo.goto(f"/review/items/{item.id}")
    assert bo.locator("#claim, #approve").count() == 0  # no button that could only be refused
    assert site.store.get(item.id) == held


def test_an_empty_edit_is_refused_and_the_item_stays_claimed(site: Site, contexts):
    item = site.enqueue("Eli", "Hello Eli.")
    page = signed_in(contexts, site, "ana")
    decide(page, item)
    page.fill("#text", "  \n ")  # `required` lets a blank through; the queue refuses it
    assert submit(page, "#edit button") == 422
    assert "an edit needs the edited text" in page.inner_text("p.error")
    held = site.store.get(item.id)
    assert (held.status, held.reviewer, held.final_output) == ("claimed", "ana", None)
    assert page.inner_text("h1") == f"Item {item.id[:12]}" and page.input_value("#text") == "Hello Eli."
    assert page.goto(page.url).status == 200 and page.url == f"{site.url}/review/items/{item.id}"  # a GET: sent on


def test_a_script_in_an_output_is_shown_as_text(site: Site, contexts):
    output = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    item = site.enqueue("<b>Mallory</b>", output)
    page, dialogs = signed_in(contexts, site, "cy"), []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    decide(page, item)
    assert page.inner_text("pre.output") == output and page.input_value("#text") == output
    assert "<b>Mallory</b>" in page.inner_text("table.input")
    assert page.locator("main script, main img, table.input b").count() == 0
    page.wait_for_timeout(300)
    assert dialogs == []
    submit(page, "#approve button")


def test_review_next_and_sign_out(site: Site, contexts):
    oldest = site.enqueue("Fay", "Hello Fay.", now=1.0)  # older than anything else in the queue
    page = signed_in(contexts, site, "dee")  # who holds nothing yet
    assert submit(page, "button:text('Review next')") == 200
    assert page.url == f"{site.url}/review/items/{oldest.id}"
    assert site.store.get(oldest.id).reviewer == "dee"
    page.goto("/review")
    assert submit(page, "button:text('Review next')") == 200 and page.url.endswith(oldest.id)  # hers until decided
    submit(page, "#approve button")
    assert submit(page, "button:text('Sign out')") == 401
    assert page.context.cookies() == [] and page.locator("input[name=token]").count() == 1


def drain(store: ReviewStore) -> None:
    "Decide every free item, so that the next ones are those a test puts in."
    while (item := store.claim("sweeper", 60)) is not None: store.decide(item.id, "sweeper", "approve")


def test_a_decision_leads_to_the_next_item_and_the_last_to_the_queue(site: Site, contexts):
    drain(site.store)
    first, second = site.enqueue("Gus", "Hello Gus."), site.enqueue("Hal", "Hello Hal.")
    page = signed_in(contexts, site, "eve")
    assert submit(page, "button:text('Review next')") == 200 and page.url.endswith(first.id)

    assert submit(page, "#approve button") == 200
    assert page.url == f"{site.url}/review/items/{second.id}?done=approved&item={first.id}"
    assert page.inner_text("p.notice") == f"Item {first.id[:12]} approved."
    assert (page.inner_text("h1"), site.store.get(second.id).reviewer) == (f"Item {second.id[:12]}", "eve")

    page.click("#reject button")  # no reason: the browser keeps the form
    page.wait_for_timeout(300)
    assert page.locator("#reason:invalid").count() == 1 and page.url.endswith(f"item={first.id}")
    assert site.store.get(second.id).status == "claimed"
    page.fill("#reason", "greets nobody")
    assert submit(page, "#reject button") == 200
    assert page.inner_text("h1") == "Review queue"
    assert page.inner_text("p.notice") == f"Item {second.id[:12]} rejected. Nothing else is free to review right now."
    assert [site.store.get(i.id).status for i in (first, second)] == ["approved", "rejected"]


def test_the_decision_fields_are_required(site: Site, contexts):
    item = site.enqueue("Ida", "Hello Ida.")
    page = signed_in(contexts, site, "bo")
    decide(page, item)
    assert page.locator("#text[required], #reason[required]").count() == 2
    assert page.locator("#approve button.primary, #reject button.danger").count() == 2
    page.fill("#text", "")
    page.click("#edit button")
    page.wait_for_timeout(300)
    assert page.locator("#text:invalid").count() == 1 and site.store.get(item.id).status == "claimed"
    assert submit(page, "#approve button") == 200


def test_text_typed_in_a_refused_decision_is_kept(site: Site, contexts):
    item = site.enqueue("Gil", "Hello Gil.")
    held = site.store.claim("cy", lease_s=3, item_id=item.id)  # a lease about to lapse
    page = signed_in(contexts, site, "cy")
    page.goto(f"/review/items/{item.id}")
    page.fill("#text", "Hello, Gil!\nWelcome.")
    time.sleep(max(0.0, held.lease_until - time.time()) + 0.3)

    assert submit(page, "#edit button") == 409
    assert "your lease on review item" in page.inner_text("p.error")
    assert "Hello, Gil!\nWelcome." in page.inner_text("dl.unsaved")
    assert submit(page, "#claim button") == 200  # the claim carries the text back into the form
    assert page.input_value("#text") == "Hello, Gil!\nWelcome."
    assert submit(page, "#edit button") == 200
    assert site.store.get(item.id).final_output == "Hello, Gil!\nWelcome."


def test_the_pages_fit_a_phone(site: Site, contexts):
    verdicts = [{"guard": "toxicity", "passed": True, "detail": "below 0.7 " * 8, "score": 0.03778533819450684,
                 "threshold": 0.7, "model": "unitary/toxic-bert", "latency_ms": 12.5}] * 2
    item = site.store.enqueue("greet", "v1.0.0", "fake", {"name": "Pneumonoultramicroscopicsilicovolcanoconiosis" * 2},
                              "Hello " + "x" * 300 + ".\n" + "A long line of words. " * 20, 0.21, verdicts, "req-phone")
    page = signed_in(contexts, site, "ana", viewport={"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.goto(f"/review/items/{item.id}")
    assert submit(page, "#claim button") == 200
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert "0.038" in page.inner_text("table.verdicts") and "0.0377" not in page.inner_text("table.verdicts")
    assert submit(page, "#approve button") == 200
