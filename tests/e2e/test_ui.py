"""The web UI in headless Chromium against the real stack: sign in, train, promote, predict,
and see the request counter move. Screenshots of each page go to tests/e2e/screenshots/."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from rayline.keys import key_id
from tests.conftest import write_config
from tests.stack import Stack
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).parent / "screenshots"


@pytest.fixture
def page(serving: Stack) -> Iterator[Page]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: `make test` installs it (apt-get)")
    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()


def _champion(stack: Stack, name: str) -> str | None:
    models = {m["name"]: m for m in stack.http("GET", "/v1/models")[1]["models"]}
    return models[name]["aliases"].get("champion")


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_sign_in_train_promote_predict_and_watch_the_dashboard(serving: Stack, page: Page) -> None:
    # A first `iris` version exists, so the UI's training job registers a second one.
    serving.train(write_config(serving.configs, "iris", search={"num_samples": 2}))

    page.goto(serving.url + "/")
    page.get_by_label("API key").fill(serving.admin_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="Training")).to_be_visible()
    _shot(page, "01-dashboard")

    # Training: submit the shipped iris config as a Ray Job and wait for it.
    page.get_by_role("link", name="Training").click()
    page.get_by_label("Config").select_option("iris")
    _shot(page, "02-training")
    page.get_by_role("button", name="Submit job").click()
    expect(page).to_have_url(re.compile(r"/training/jobs/raysubmit_\w+$"))
    job_id = page.url.rsplit("/", 1)[-1]
    wait_until(
        lambda: (
            serving.http("GET", f"/v1/jobs/{job_id}")[1]["status"] not in ("PENDING", "RUNNING")
        ),
        300,
        f"job {job_id} to end",
    )
    status_card = page.get_by_role("region", name="Status")
    expect(status_card).to_contain_text("succeeded", timeout=30_000)
    expect(page.locator("figcaption", has_text="Trial scores")).to_be_visible()
    expect(page.get_by_role("cell", name="knn").first).to_be_visible()
    _shot(page, "03-job")
    versions = serving.http("GET", "/v1/models/iris/versions")[1]["versions"]
    assert [v["version"] for v in versions] == ["2", "1"]
    champion_before = _champion(serving, "iris")

    # Models: promote the candidate version to champion, with confirmation.
    page.goto(serving.url + "/models/iris")
    candidate = page.get_by_label("Candidate").input_value()
    assert candidate != champion_before
    page.get_by_role("button", name="Promote to champion").click()
    page.get_by_role("button", name="Confirm").click()
    wait_until(lambda: _champion(serving, "iris") == candidate, 20, "the promotion")
    _shot(page, "04-models")

    # Predictions: the form generated from the signature, filled with the input example.
    page.get_by_role("link", name="Predictions").click()
    page.get_by_label("Model", exact=True).select_option("iris")
    page.get_by_role("button", name="Fill with example").click()
    page.get_by_role("button", name="Predict").click()
    expect(page.get_by_text(re.compile(rf"Answered by iris version {candidate}"))).to_be_visible()
    expect(page.get_by_label(re.compile(r"P\(.+\)")).first).to_be_visible()
    _shot(page, "05-predictions")

    # Dashboard: the request counter has moved.
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_text(re.compile(r"Last \d+ minutes: [1-9][\d,]* requests"))).to_be_visible(
        timeout=60_000
    )
    _shot(page, "06-dashboard-after")
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, "07-dashboard-phone")


def test_schedules_page_creates_runs_now_and_shows_the_outcome(serving: Stack, page: Page) -> None:
    page.goto(serving.url + "/")
    page.get_by_label("API key").fill(serving.admin_key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Schedules").click()

    page.get_by_label("Schedule name").fill("ui-wine")
    page.get_by_label("Training config").select_option("wine")
    page.get_by_label("Trigger").select_option("cron")
    page.get_by_label("Cron").fill("30 4 1 * *")
    page.get_by_label("Time zone").fill("Europe/Madrid")
    page.get_by_role("button", name="Create schedule").click()
    row = page.get_by_role("row").filter(has_text="ui-wine")
    expect(row).to_contain_text("04:30")
    expect(row).to_contain_text("Europe/Madrid")
    _shot(page, "08-schedules")

    # The creation is in the audit trail, under the admin key's id, never the key.
    page.get_by_role("link", name="Audit").click()
    page.get_by_label("Action").fill("create_schedule")
    page.get_by_role("button", name="Apply").click()
    created = page.get_by_role("table", name="Audit log").get_by_role("row").nth(1)
    expect(created).to_contain_text("/v1/schedules")
    expect(created).to_contain_text(key_id(serving.admin_key))
    expect(page.get_by_role("table", name="Audit log")).not_to_contain_text(serving.admin_key)
    _shot(page, "08-audit")
    page.get_by_role("link", name="Schedules").click()
    try:
        row.get_by_role("button", name="Run now").click()
        row.click()
        history = page.get_by_role("region", name=re.compile("Run history"))
        expect(history).to_contain_text("manual")
        expect(history).to_contain_text(re.compile("promoted|trained|skipped"), timeout=300_000)
        _shot(page, "09-schedule-run")
        runs = serving.http("GET", "/v1/schedules/ui-wine/runs")[1]["runs"]
        assert [r["trigger"] for r in runs] == ["manual"] and runs[0]["status"] == "succeeded"
    finally:
        serving.http("DELETE", "/v1/schedules/ui-wine")


def test_monitoring_page_shows_feature_drift_and_a_histogram(serving: Stack, page: Page) -> None:
    # Enough live rows for a verdict (min_rows 100): shifted petal lengths, so one feature drifts.
    rows = [
        {"sepal length (cm)": 5.8, "sepal width (cm)": 3.0, "petal length (cm)": 8.0 + i % 5 * 0.1,
         "petal width (cm)": 1.2}
        for i in range(50)
    ]  # fmt: skip
    for _ in range(4):
        assert serving.http("POST", "/v1/models/iris_it/predict", {"instances": rows})[0] == 200

    def report_has_features() -> bool:
        versions = serving.http("GET", "/v1/models/iris_it/monitoring")[1]["versions"]
        return bool(versions and versions[0]["drift"]["features"])

    wait_until(report_has_features, 60, "a drift verdict for iris_it")
    page.goto(serving.url + "/")
    page.get_by_label("API key").fill(serving.admin_key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Monitoring").click()
    expect(page.get_by_role("heading", name="Monitoring", level=1)).to_be_visible()
    page.get_by_label("Model", exact=True).select_option("iris_it")
    expect(page.get_by_role("img", name="Feature drift")).to_be_visible()
    table = page.get_by_role("table", name="Drift by feature")
    table.get_by_role("button", name="petal length (cm)").click()
    expect(page.get_by_role("img", name="Reference vs live: petal length (cm)")).to_be_visible()
    _shot(page, "09-monitoring")
